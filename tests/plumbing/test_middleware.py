"""clinic.middleware, unit by unit: what each one lets through, and what it leaves alone."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import RequestFactory

from clinic.middleware import NeverCacheMiddleware, RejectNulCharactersMiddleware


def _never_cache(response: HttpResponse) -> HttpResponse:
    return NeverCacheMiddleware(lambda request: response)(RequestFactory().get("/"))


def test_a_response_without_cache_control_is_never_cached():
    response = _never_cache(HttpResponse("chart"))
    assert set(response["Cache-Control"].split(", ")) == {
        "max-age=0",
        "no-cache",
        "no-store",
        "must-revalidate",
        "private",
    }
    assert "Expires" in response


def test_a_view_that_sets_cache_control_itself_is_left_alone():
    own = HttpResponse("public leaflet", headers={"Cache-Control": "public, max-age=600"})
    assert _never_cache(own)["Cache-Control"] == "public, max-age=600"


def _nul_guard(request):
    return RejectNulCharactersMiddleware(lambda request: HttpResponse("view"))(request)


def test_clean_requests_reach_the_view():
    factory = RequestFactory()
    for request in (
        factory.get("/book/", {"q": "cardio"}, HTTP_USER_AGENT="Mozilla/5.0"),
        factory.post("/accounts/login/", {"username": "hanako", "password": "x"}),
        factory.post("/api/auth/token/", '{"username": "\\u0000"}', "application/json"),
    ):
        assert _nul_guard(request).content == b"view"  # JSON is the parser's to check


def test_uploaded_file_contents_may_hold_nul_bytes():
    upload = SimpleUploadedFile("scan.bin", b"\x00\x01binary\x00")
    request = RequestFactory().post("/upload/", {"note": "scan", "file": upload})
    assert _nul_guard(request).content == b"view"


def test_a_form_sent_with_another_method_is_not_parsed():
    # Django parses form bodies of POST only, and so do our views.
    request = RequestFactory().put("/x/", "a=%00", content_type="application/x-www-form-urlencoded")
    assert _nul_guard(request).content == b"view"
