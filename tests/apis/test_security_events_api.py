"""The API's security events in the access log: a token issued is a sign-in, a refused one a
failed sign-in, and a refusal of someone else's record a permission refusal."""

import pytest

from tests.factories import PASSWORD, at, make_appointment, make_doctor, make_patient
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def _events():
    return list(
        AccessLogEntry.objects.security_events()
        .order_by("pk")
        .values_list("action", "viewer", "username", "channel", "record", "address")
    )


def test_a_token_issued_is_a_sign_in(api):
    user = make_patient().user
    body = {"username": user.username, "password": PASSWORD}
    assert api.post(TOKEN, body, REMOTE_ADDR="203.0.113.7").status_code == 200
    assert _events() == [("signed_in", user.pk, user.username, "api", "", "203.0.113.7")]


def test_a_token_revoked_at_logout_is_a_sign_out(api):
    user = make_patient().user
    tokens = api.post(TOKEN, {"username": user.username, "password": PASSWORD}).json()
    answer = api.post(
        "/api/auth/logout/", {"refresh": tokens["refresh"]}, REMOTE_ADDR="203.0.113.8"
    )
    assert answer.status_code == 204
    assert _events()[-1] == ("signed_out", user.pk, user.username, "api", "", "203.0.113.8")


def test_a_token_refused_is_a_failed_sign_in(api):
    user = make_patient().user
    body = {"username": user.username, "password": "wrong"}
    assert api.post(TOKEN, body, REMOTE_ADDR="203.0.113.7").status_code == 401
    assert _events() == [("sign_in_failed", None, user.username, "api", "", "203.0.113.7")]


def test_someone_elses_chart_is_a_logged_refusal(api):
    patient = make_patient()
    make_appointment(patient=patient, start=at(days=2))
    stranger = make_doctor().user
    path = f"/api/patients/{patient.pk}/"
    response = api.as_user(stranger).get(path, REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 404
    assert _events() == [
        ("refused", stranger.pk, stranger.username, "api", f"GET {path}", "198.51.100.3")
    ]


def test_a_record_that_does_not_exist_is_no_refusal(api):
    response = api.as_user(make_doctor().user).get("/api/patients/999999/")
    assert response.status_code == 404
    assert _events() == []


def test_a_forbidden_action_is_a_logged_refusal(api):
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    path = f"/api/appointments/{visit.pk}/notes/"
    # The visit's patient may be in it, but may not read its doctor's note (403).
    response = api.as_user(visit.patient.user).get(path)
    assert response.status_code == 403, response.content
    assert [(action, record) for action, _, _, _, record, _ in _events()] == [
        ("refused", f"GET {path}")
    ]
