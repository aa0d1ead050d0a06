"""Sign-in lockout on the portal's and the admin's login pages (django-axes), shared with the
API's token endpoint: the same counts, the same clear page, no hashing once locked."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from tests.factories import PASSWORD, make_admin, make_patient

pytestmark = pytest.mark.django_db

PORTAL, ADMIN = reverse("login"), reverse("admin:login")
MESSAGE = (
    "Too many failed sign-ins. Try again in 15 minutes or ask the clinic to unlock your account."
)


def _sign_in(client, url, username, password=PASSWORD):
    return client.post(url, {"username": username, "password": password, "next": "/"})


@pytest.mark.parametrize("url", [PORTAL, ADMIN])
def test_the_fifth_failure_shows_the_lockout_page_with_429(client, url):
    user = make_admin()
    statuses = [_sign_in(client, url, user.username, "wrong").status_code for _ in range(4)]
    assert statuses == [200] * 4  # the login form again, with its error
    locked = _sign_in(client, url, user.username, "wrong")
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert MESSAGE in locked.content.decode()
    assert locked["Retry-After"] == str(15 * 60)


@pytest.mark.parametrize("url", [PORTAL, ADMIN])
def test_a_locked_account_is_refused_with_the_right_password_before_hashing(client, url, hashing):
    user = make_admin()
    for _ in range(5):
        _sign_in(client, url, user.username, "wrong")
    hashing.clear()
    refused = _sign_in(client, url, user.username)
    assert refused.status_code == 429
    assert MESSAGE in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert hashing == []


def test_an_unknown_username_gets_the_same_page(client):
    real = make_patient().user.username
    pages = {}
    for username in (real, "nobody-by-that-name"):
        for _ in range(5):
            _sign_in(client, PORTAL, username, "wrong")
        pages[username] = _sign_in(client, PORTAL, username)
    assert pages[real].status_code == pages["nobody-by-that-name"].status_code == 429
    assert pages[real].content == pages["nobody-by-that-name"].content


def test_failures_count_across_portal_admin_and_api(client):
    user = make_patient().user
    _sign_in(client, PORTAL, user.username, "wrong")
    _sign_in(client, ADMIN, user.username, "wrong")
    for _ in range(2):
        body = {"username": user.username, "password": "wrong"}
        client.post("/api/auth/token/", body, content_type="application/json")
    assert _sign_in(client, ADMIN, user.username, "wrong").status_code == 429
    assert _sign_in(client, PORTAL, user.username).status_code == 429
    api = client.post(
        "/api/auth/token/",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert api.status_code == 429


def test_a_successful_portal_sign_in_forgives_earlier_mistakes(client):
    user = make_patient().user
    for _ in range(4):
        _sign_in(client, PORTAL, user.username, "wrong")
    assert _sign_in(client, PORTAL, user.username).status_code == 302
    client.post(reverse("logout"))
    assert [_sign_in(client, PORTAL, user.username, "wrong").status_code for _ in range(4)] == [
        200
    ] * 4


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_too_the_lockout_page_replaces_the_login_form(async_client):
    # Daphne runs the middleware chain asynchronously: axes' async path, not the sync one.
    user = await sync_to_async(make_patient)()
    body = {"username": user.user.username, "password": "wrong"}
    for _ in range(5):
        await async_client.post(PORTAL, body)
    locked = await async_client.post(PORTAL, {**body, "password": PASSWORD})
    assert locked.status_code == 429
    assert MESSAGE in locked.content.decode()
    assert "_auth_user_id" not in await sync_to_async(lambda: dict(async_client.session))()
