"""Hostile JSON bodies: absurd nesting and NUL characters are a 400 with a JSON body and one
log line, on every kind of endpoint (signed out, signed in, the Calls proxy), never a 500."""

import logging

import pytest
from django.test import Client

from tests.factories import (
    at,
    bearer,
    make_appointment,
    make_doctor,
    make_patient,
    next_day,
    slot_at,
)

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def anonymous():
    # Answers what the server would answer rather than raising, so a 500 shows as a 500.
    return Client(raise_request_exception=False)


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


@pytest.fixture
def calls_on(settings):
    # Bodies are validated before anyone or anything is asked, so Calls is never reached.
    settings.CALLS_APP_ID = "app1"
    settings.CALLS_APP_SECRET = "calls-app-secret"
    settings.CALLS_API_URL = "http://127.0.0.1:9/v1"


def _send(client, method, path, body: str, user=None):
    send = getattr(client, method.lower())
    return send(path, body, content_type="application/json", headers=bearer(user))


def _hostile_endpoints(visit):
    """(method, path, user) for a sign-in, a visit note and each Calls proxy body."""
    room = visit.room_id
    session = f"/api/rooms/{room}/calls/sessions/s1"
    doctor = visit.doctor.user
    return [
        ("POST", TOKEN, None),
        ("PUT", f"/api/appointments/{visit.id}/notes/", doctor),
        ("POST", f"/api/rooms/{room}/calls/sessions/new", doctor),
        ("POST", f"{session}/tracks/new", doctor),
        ("PUT", f"{session}/renegotiate", doctor),
        ("PUT", f"{session}/tracks/close", doctor),
        ("PUT", f"{session}/tracks/update", doctor),
    ]


@pytest.mark.parametrize("depth", [1000, 10_000, 100_000])
def test_a_deeply_nested_body_is_a_400_with_one_log_line_and_no_traceback(
    anonymous, visit, calls_on, caplog, depth
):
    for method, path, user in _hostile_endpoints(visit):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = _send(anonymous, method, path, _nested(depth), user)
        assert response.status_code == 400, (path, response.content[:200])
        assert response.json() == {
            "detail": "JSON parse error - the body nests deeper than 32 levels."
        }
        assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
            ("django.request", "WARNING", f"Bad Request: {path}")
        ]
        assert all(record.exc_info is None for record in caplog.records)


def test_a_body_nested_within_the_limit_reaches_the_view(anonymous):
    response = _send(anonymous, "POST", TOKEN, _nested(32))
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


def test_nesting_inside_an_object_counts_too(anonymous):
    body = '{"username": ' + _nested(40) + ', "password": "x"}'
    response = _send(anonymous, "POST", TOKEN, body)
    assert response.status_code == 400
    assert "nests deeper than 32 levels" in response.json()["detail"]


NUL_REFUSED = {"detail": "Text may not contain NUL characters (\\u0000)."}


def test_a_nul_in_the_sign_in_username_is_a_400(anonymous):
    response = _send(anonymous, "POST", TOKEN, '{"username": "ad\\u0000min", "password": "x"}')
    assert (response.status_code, response.json()) == (400, NUL_REFUSED)


def test_a_nul_in_a_booking_reason_is_a_400_and_books_nothing(anonymous):
    patient, doctor = make_patient(), make_doctor()
    start = slot_at(next_day(), 10).isoformat()
    body = f'{{"doctor": {doctor.id}, "start": "{start}", "reason": "Knee\\u0000 pain"}}'
    response = _send(anonymous, "POST", "/api/appointments/", body, patient.user)
    assert (response.status_code, response.json()) == (400, NUL_REFUSED)
    assert not doctor.appointments.exists()


def test_a_nul_in_a_note_section_is_a_400_and_saves_nothing(anonymous, visit):
    path = f"/api/appointments/{visit.id}/notes/"
    body = '{"subjective": "Cough\\u0000", "version": 0}'
    response = _send(anonymous, "PUT", path, body, visit.doctor.user)
    assert (response.status_code, response.json()) == (400, NUL_REFUSED)
    note = anonymous.get(path, headers=bearer(visit.doctor.user)).json()
    assert note["version"] == 0


def test_a_nul_in_an_object_key_is_a_400(anonymous):
    response = _send(anonymous, "POST", TOKEN, '{"user\\u0000name": "a", "password": "x"}')
    assert (response.status_code, response.json()) == (400, NUL_REFUSED)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/doctors/?search=%00", "search"),
        ("/api/doctors/?specialty=Cardio%00logy", "specialty"),
        ("/api/appointments/?status=%00", "status"),
        ("/api/appointments/?date_from=2030-01-01%00", "date_from"),
        ("/api/doctors/?page=%00", "page"),  # read by the paginator, not a serializer
    ],
)
def test_a_nul_in_an_api_query_parameter_is_a_400_naming_it(anonymous, path, field):
    response = anonymous.get(path, headers=bearer(make_patient().user))
    assert response.status_code == 400
    assert response.json() == {field: ["Null characters are not allowed."]}


def test_a_nul_in_an_api_query_parameter_name_is_a_400(anonymous):
    response = anonymous.get("/api/doctors/?%00=1", headers=bearer(make_patient().user))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request's query string contains a NUL character, which is not allowed."
    }
