"""Automatic logoff (visits/idle_logoff.py): a session idle for SESSION_IDLE_MINUTES is signed
out; the next page lands on the login page, which says why; the API answers 401. Asking how
long is left is no activity, "Stay signed in" is (and needs the CSRF token). API tokens are
not sessions. The browser's side: tests/e2e/test_idle_logoff.py."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import at, bearer, make_admin, make_appointment
from visits import idle_logoff

pytestmark = pytest.mark.django_db

STATUS = "/session/"
KEEP_ALIVE = "/session/keep-alive/"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def pass_minutes(self, minutes: float) -> None:
        self.now += minutes * 60


@pytest.fixture
def clock(monkeypatch, settings):
    settings.SESSION_IDLE_MINUTES = 15
    clock = Clock()
    monkeypatch.setattr(idle_logoff, "time", clock)
    return clock


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


@pytest.fixture
def patient(visit):
    client = Client()
    client.force_login(visit.patient.user)
    assert client.get("/").status_code == 200  # the first request notes the activity
    return client


def _signed_in(client) -> bool:
    return client.get(STATUS).json()["signedIn"]


def test_activity_within_the_timeout_keeps_the_session(clock, patient):
    for _ in range(4):
        clock.pass_minutes(14)
        assert patient.get("/").status_code == 200
    assert _signed_in(patient)


def test_after_the_timeout_the_next_page_lands_on_the_login_page_saying_why(clock, patient):
    clock.pass_minutes(15)
    response = patient.get(reverse("portal:book"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login") + "?next=/book/"
    page = response.content.decode()
    assert "You were signed out after 15 minutes without activity." in page
    assert "data-signed-out" in page  # the login page's script clears the note drafts
    assert not _signed_in(patient)


def test_asking_how_long_is_left_is_no_activity(clock, patient):
    clock.pass_minutes(10)
    answer = patient.get(STATUS).json()
    assert answer == {"signedIn": True, "secondsLeft": 300.0, "warningSeconds": 60}
    clock.pass_minutes(5)
    assert patient.get(STATUS).json()["signedIn"] is False
    assert patient.get("/").status_code == 302


def test_stay_signed_in_starts_the_timeout_again_and_needs_the_csrf_token(clock, visit):
    client = Client(enforce_csrf_checks=True)
    client.force_login(visit.patient.user)
    page = client.get("/")
    token = page.cookies["csrftoken"].value
    clock.pass_minutes(14.5)
    assert client.post(KEEP_ALIVE).status_code == 403
    answer = client.post(KEEP_ALIVE, headers={"X-CSRFToken": token}).json()
    assert answer["signedIn"] and answer["secondsLeft"] == 15 * 60
    clock.pass_minutes(14.5)
    assert _signed_in(client)


def test_the_api_on_a_session_answers_401_after_the_timeout(clock, visit, patient):
    assert patient.get(f"/api/appointments/{visit.id}/").status_code == 200
    clock.pass_minutes(16)
    assert patient.get(f"/api/appointments/{visit.id}/").status_code == 401


def test_api_tokens_are_not_sessions(clock, visit):
    client = Client()
    assert client.get("/api/appointments/", headers=bearer(visit.patient.user)).status_code == 200
    clock.pass_minutes(16)  # the token's own lifetime is on the real clock
    response = client.get("/api/appointments/", headers=bearer(visit.patient.user))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_a_decimal_timeout_for_short_ones(clock, settings, patient):
    settings.SESSION_IDLE_MINUTES = 0.5
    patient.get("/")
    answer = patient.get(STATUS).json()
    assert answer["secondsLeft"] == 30 and answer["warningSeconds"] == 15
    clock.pass_minutes(0.5)
    response = patient.get("/", follow=True)
    assert "signed out after 30 seconds without activity" in response.content.decode()


def test_signing_out_says_so_and_tags_the_login_page(patient):
    response = patient.post(reverse("logout"), follow=True)
    page = response.content.decode()
    assert "You are signed out." in page and "data-signed-out" in page
    assert not _signed_in(patient)


def test_a_signed_in_page_carries_the_warning_and_the_login_page_does_not(patient):
    page = patient.get("/").content.decode()
    assert 'id="session-timeout" class="dialog" role="alertdialog"' in page
    assert "Stay signed in" in page
    login = Client().get(reverse("login")).content.decode()
    assert "session-timeout" not in login and "data-signed-out" not in login


def test_the_admin_signs_out_alike(clock):
    client = Client()
    client.force_login(make_admin())
    assert client.get("/admin/").status_code == 200
    clock.pass_minutes(15)
    response = client.get("/admin/visits/appointment/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    assert "signed out after 15 minutes without activity" in response.content.decode()


def test_activity_never_moves_the_end_of_the_sign_in(clock, settings, patient):
    """SESSION_COOKIE_AGE stays the longest a sign-in lasts, however busy it is."""
    end = patient.session.get_expiry_date()
    clock.pass_minutes(10)
    assert patient.get("/").status_code == 200
    assert patient.session.get_expiry_date() == end
    assert abs(end.timestamp() - (1_800_000_000 + settings.SESSION_COOKIE_AGE)) < 1
