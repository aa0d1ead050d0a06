"""A NUL character is text PostgreSQL cannot store or compare: wherever it arrives over HTTP
(address, query string, cookie, header, form field) the answer is a 400 page, before any query
runs, on both databases. (JSON bodies: tests/apis/test_hostile_json.py.)"""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, make_doctor, make_patient, make_user
from visits.models import Role

pytestmark = pytest.mark.django_db


def _client(user=None, **defaults) -> Client:
    # Answers what the server would answer rather than raising, so a 500 shows as a 500.
    client = Client(raise_request_exception=False, **defaults)
    if user is not None:
        client.force_login(user)
    return client


def _refused(response, where: str) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert f"The request&#x27;s {where} contains a NUL character" in page
    assert "We couldn't read that request" in page


def test_the_portal_doctor_search_refuses_a_nul():
    make_doctor(display_name="Dr. Search")
    client = _client(make_patient().user)
    _refused(client.get(reverse("portal:book") + "?q=%00"), "query string")
    _refused(client.get(reverse("portal:book") + "?q=Dr.%00Search"), "query string")
    # The search itself still works, and an encoded "%00" typed as text is just text.
    assert "Dr. Search" in client.get(reverse("portal:book"), {"q": "search"}).content.decode()
    assert client.get(reverse("portal:book"), {"q": "%00"}).status_code == 200


@pytest.mark.parametrize(
    "address",
    [
        "/admin/visits/doctor/?specialty=%00",
        "/admin/visits/appointment/?q=%00",
        "/admin/visits/user/?role=x%00",
    ],
)
def test_admin_lists_refuse_a_nul_in_their_filters(address):
    _refused(_client(make_user(Role.ADMIN)).get(address), "query string")


def test_a_nul_in_a_form_field_is_refused_at_sign_in():
    for login in (reverse("login"), "/admin/login/"):
        # The test client sends forms multipart; browsers send them URL-encoded.
        multipart = _client().post(login, {"username": "ad\x00min", "password": PASSWORD})
        _refused(multipart, "form")
        encoded = _client().post(
            login,
            f"username=ad%00min&password={PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        )
        _refused(encoded, "form")


def test_a_nul_in_the_booking_form_books_nothing():
    patient, doctor = make_patient(), make_doctor()
    response = _client(patient.user).post(
        reverse("portal:book-slot", args=[doctor.id]),
        {"start": "2030-01-15T10:00:00+00:00", "reason": "Knee\x00pain"},
    )
    _refused(response, "form")
    assert not doctor.appointments.exists()


def test_a_nul_in_the_session_cookie_is_refused_before_the_session_is_looked_up():
    # Cookie values may carry octal escapes, which Django decodes: \000 is a NUL.
    client = _client(HTTP_COOKIE='sessionid="\\000abcdefghijklmnop"')
    _refused(client.get("/"), "cookies")


def test_a_nul_in_a_header_is_refused():
    _refused(_client().get(reverse("login"), HTTP_USER_AGENT="Mozilla\x00"), "headers")


def test_a_nul_in_the_address_is_refused():
    response = _client(make_user(Role.ADMIN)).get("/admin/visits/doctor/%00/change/")
    _refused(response, "address")


def test_a_nul_under_api_is_answered_in_json():
    response = _client().get("/api/rooms/%00/ice-servers")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request's address contains a NUL character, which is not allowed."
    }
