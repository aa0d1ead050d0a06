"""Who may call what: every route under /api/ x six callers, from ONE table of expected
statuses. A route the URL resolver knows but the table does not (a new endpoint) fails
`test_every_api_route_has_a_row`, so nobody adds an endpoint without deciding who may use it.

Each case builds its own world, so an allowed transition in one case cannot change another's.
A refused request (anything but 2xx) must also leave every appointment as it was.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.utils import timezone

from rooms.recordings.models import Recording
from rooms.transcripts.models import DraftNote, TranscriptSegment
from tests.apis.routes import api_routes
from tests.factories import (
    PASSWORD,
    at,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
    next_day,
    slot_at,
    tokens_for,
)
from tests.recordings.factories import make_ready_recording, make_recording
from tests.transcripts.factories import make_transcript
from visits.models import Appointment, Doctor, Patient, User
from visits.services import visit_note_save

ACTORS = ("anonymous", "patient_a", "patient_b", "doctor_x", "doctor_y", "admin")


def row(anonymous, patient_a, patient_b, doctor_x, doctor_y, admin) -> dict[str, int]:
    return dict(
        zip(ACTORS, (anonymous, patient_a, patient_b, doctor_x, doctor_y, admin), strict=True)
    )


# The Calls proxy's routes all answer alike (see their rows below).
CALLS_ROW = row(401, 403, 404, 403, 404, 404)

# The appointments the rows act on are patient A's with doctor X; B and Y are strangers to them.
# Columns:                                            anon    A    B    X    Y  admin
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    # Public: signing in and refreshing need no token (the body carries A's credentials).
    ("POST", "/api/auth/token/"): row(200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/token/refresh/"): row(200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/logout/"): row(204, 204, 204, 204, 204, 204),
    ("GET", "/api/me/"): row(401, 200, 200, 200, 200, 200),
    ("GET", "/api/doctors/"): row(401, 200, 200, 200, 200, 200),
    ("GET", "/api/doctors/{doctor_id}/slots/"): row(401, 200, 200, 200, 200, 200),
    # Everyone signed in lists; what each sees is tested in test_appointments_api.
    ("GET", "/api/appointments/"): row(401, 200, 200, 200, 200, 200),
    # Books X for patient A: A may (for themself), B may not book for A, doctors may not book.
    ("POST", "/api/appointments/"): row(401, 201, 400, 403, 403, 201),
    ("GET", "/api/appointments/{appointment_id}/"): row(401, 200, 404, 200, 404, 200),
    ("POST", "/api/appointments/{appointment_id}/cancel/"): row(401, 200, 404, 200, 404, 200),
    ("POST", "/api/appointments/{appointment_id}/reschedule/"): row(401, 200, 404, 200, 404, 200),
    # The doctor's actions: the patient sees the visit but may not (403).
    ("POST", "/api/appointments/{appointment_id}/confirm/"): row(401, 403, 404, 200, 404, 200),
    ("POST", "/api/appointments/{appointment_id}/complete/"): row(401, 403, 404, 200, 404, 200),
    ("POST", "/api/appointments/{appointment_id}/no-show/"): row(401, 403, 404, 200, 404, 200),
    ("GET", "/api/patients/{patient_id}/"): row(401, 200, 404, 200, 404, 200),
    # The whole record (FHIR), by the chart's rule: the patient, their doctor, staff.
    ("GET", "/api/patients/{patient_id}/export/"): row(401, 200, 404, 200, 404, 200),
    # The visit's SOAP note: read by its doctor and staff, written by its doctor only.
    ("GET", "/api/appointments/{appointment_id}/notes/"): row(401, 403, 404, 200, 404, 200),
    ("PUT", "/api/appointments/{appointment_id}/notes/"): row(401, 403, 404, 200, 404, 403),
    # Its history is for its doctor and staff; signing it and addenda (to a completed visit's
    # note) are its doctor's alone.
    ("GET", "/api/appointments/{appointment_id}/notes/versions/"): row(
        401, 403, 404, 200, 404, 200
    ),
    ("POST", "/api/appointments/{appointment_id}/notes/sign/"): row(401, 403, 404, 200, 404, 403),
    ("POST", "/api/appointments/{appointment_id}/notes/addenda/"): row(
        401, 403, 404, 201, 404, 403
    ),
    # A visit's recordings: seen (and played) by its patient, its doctor and staff; chunks are
    # uploaded by the recording doctor alone.
    ("GET", "/api/appointments/{appointment_id}/recordings/"): row(401, 200, 404, 200, 404, 200),
    ("GET", "/api/recordings/{recording_id}/"): row(401, 200, 404, 200, 404, 200),
    ("GET", "/api/recordings/{recording_id}/media/"): row(401, 200, 404, 200, 404, 200),
    ("PUT", "/api/recordings/{recording_id}/chunks/{seq}/"): row(401, 403, 404, 201, 404, 403),
    # A visit's transcript (here: yesterday's, over): read by its doctor, staff and, once the
    # visit is over, its patient; corrected by its doctor alone. The draft note is the doctor's
    # working material: nobody else sees it exists (404). (No LLM is reachable here: asking
    # answers 202 and the task, never run, would fail; test_draft_note_api runs it.)
    ("GET", "/api/appointments/{appointment_id}/transcript/"): row(401, 200, 404, 200, 404, 200),
    ("PATCH", "/api/transcript-segments/{segment_id}/"): row(401, 403, 404, 200, 404, 403),
    ("POST", "/api/appointments/{appointment_id}/draft-note/"): row(401, 404, 404, 202, 404, 404),
    ("GET", "/api/appointments/{appointment_id}/draft-note/"): row(401, 404, 404, 200, 404, 404),
    # Transcribing a recording after the visit: its doctor alone (everyone in it allowed it).
    ("POST", "/api/recordings/{recording_id}/transcription/"): row(401, 403, 404, 202, 404, 403),
    # The visit room's endpoints are for its two participants; staff are not in the room.
    ("GET", "/api/rooms/{room_id}/ice-servers"): row(401, 200, 404, 200, 404, 404),
    # The Calls proxy (switched on here): nobody has joined the room yet, so its participants
    # are refused (403) before anything reaches Cloudflare; others do not see the room (404).
    ("POST", "/api/rooms/{room_id}/calls/sessions/new"): CALLS_ROW,
    ("POST", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/new"): CALLS_ROW,
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/renegotiate"): CALLS_ROW,
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/close"): CALLS_ROW,
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/update"): CALLS_ROW,
    ("GET", "/api/rooms/{room_id}/calls/sessions/{session_id}"): CALLS_ROW,
    ("GET", "/api/schema/"): row(200, 200, 200, 200, 200, 200),
    ("GET", "/api/docs/"): row(200, 200, 200, 200, 200, 200),
    # Malformed ids under our resources: the JSON 404, whoever asks.
    ("GET", "/api/{unknown}/"): row(404, 404, 404, 404, 404, 404),
    ("POST", "/api/{unknown}/"): row(404, 404, 404, 404, 404, 404),
}


@dataclass
class World:
    users: dict[str, User | None]
    patient_a: Patient
    doctor_x: Doctor
    future: Appointment  # A with X, requested, the day after tomorrow at 10:00 UTC
    started: Appointment  # A with X, confirmed, began ten minutes ago (room open)
    completed: Appointment  # A with X, completed yesterday
    day: date
    recorded: Recording  # of `started`, ready to play
    recording: Recording  # of `started`, on now (taking chunks)
    segment: TranscriptSegment  # of `started`'s transcript

    def slot(self, hour: int) -> str:
        return slot_at(self.day, hour).isoformat()


def _build_world() -> World:
    patient_a, patient_b = make_patient(), make_patient()
    doctor_x, doctor_y = make_doctor(), make_doctor()
    day = next_day(days=2)
    future = make_appointment(doctor=doctor_x, patient=patient_a, start=slot_at(day, 10))
    started = make_appointment(
        doctor=doctor_x, patient=patient_a, start=at(minutes=-10), status="confirmed"
    )
    completed = make_appointment(
        doctor=doctor_x, patient=patient_a, start=at(days=-1), status="completed"
    )
    # B and Y have a visit of their own, so "not yours" is never "nobody's".
    make_appointment(doctor=doctor_y, patient=patient_b, start=slot_at(day, 10))
    users = {
        "anonymous": None,
        "patient_a": patient_a.user,
        "patient_b": patient_b.user,
        "doctor_x": doctor_x.user,
        "doctor_y": doctor_y.user,
        "admin": make_admin(),
    }
    recorded = make_ready_recording(started, media=b"\x1a\x45\xdf\xa3 matrix recording")
    recording = make_recording(started)
    # A transcription of `started` before its recording: everyone allowed transcription.
    before = timezone.now() - timedelta(minutes=30)
    segment = make_transcript(started, started_at=before, ended_at=before + timedelta(minutes=5))[0]
    DraftNote.objects.create(appointment=completed, requested_by=doctor_x.user)
    return World(
        users, patient_a, doctor_x, future, started, completed, day, recorded, recording, segment
    )


TRACK = {"location": "local", "mid": "0", "trackName": "cam"}

# How to call each route against a world: (path, body or query parameters).
REQUESTS = {
    ("POST", "/api/auth/token/"): lambda w: (
        "/api/auth/token/",
        {"username": w.patient_a.user.username, "password": PASSWORD},
    ),
    ("POST", "/api/auth/token/refresh/"): lambda w: (
        "/api/auth/token/refresh/",
        {"refresh": tokens_for(w.patient_a.user)["refresh"]},
    ),
    ("POST", "/api/auth/logout/"): lambda w: (
        "/api/auth/logout/",
        {"refresh": tokens_for(w.patient_a.user)["refresh"]},
    ),
    ("GET", "/api/me/"): lambda w: ("/api/me/", None),
    ("GET", "/api/doctors/"): lambda w: ("/api/doctors/", None),
    ("GET", "/api/doctors/{doctor_id}/slots/"): lambda w: (
        f"/api/doctors/{w.doctor_x.id}/slots/",
        {"date": str(w.day)},
    ),
    ("GET", "/api/appointments/"): lambda w: ("/api/appointments/", None),
    ("POST", "/api/appointments/"): lambda w: (
        "/api/appointments/",
        {
            "doctor": w.doctor_x.id,
            "start": w.slot(11),
            "reason": "Matrix",
            "patient": w.patient_a.id,
        },
    ),
    ("GET", "/api/appointments/{appointment_id}/"): lambda w: (
        f"/api/appointments/{w.future.id}/",
        None,
    ),
    ("POST", "/api/appointments/{appointment_id}/cancel/"): lambda w: (
        f"/api/appointments/{w.future.id}/cancel/",
        {"reason": "Matrix"},
    ),
    ("POST", "/api/appointments/{appointment_id}/reschedule/"): lambda w: (
        f"/api/appointments/{w.future.id}/reschedule/",
        {"start": w.slot(12)},
    ),
    ("POST", "/api/appointments/{appointment_id}/confirm/"): lambda w: (
        f"/api/appointments/{w.future.id}/confirm/",
        {},
    ),
    ("POST", "/api/appointments/{appointment_id}/complete/"): lambda w: (
        f"/api/appointments/{w.started.id}/complete/",
        {},
    ),
    ("POST", "/api/appointments/{appointment_id}/no-show/"): lambda w: (
        f"/api/appointments/{w.started.id}/no-show/",
        {},
    ),
    ("GET", "/api/patients/{patient_id}/"): lambda w: (f"/api/patients/{w.patient_a.id}/", None),
    ("GET", "/api/patients/{patient_id}/export/"): lambda w: (
        f"/api/patients/{w.patient_a.id}/export/",
        None,
    ),
    ("GET", "/api/appointments/{appointment_id}/notes/"): lambda w: (
        f"/api/appointments/{w.started.id}/notes/",
        None,
    ),
    ("PUT", "/api/appointments/{appointment_id}/notes/"): lambda w: (
        f"/api/appointments/{w.started.id}/notes/",
        {"version": 0, "subjective": "Matrix"},
    ),
    ("GET", "/api/appointments/{appointment_id}/notes/versions/"): lambda w: (
        f"/api/appointments/{w.started.id}/notes/versions/",
        None,
    ),
    ("POST", "/api/appointments/{appointment_id}/notes/sign/"): lambda w: (
        f"/api/appointments/{_with_note(w).id}/notes/sign/",
        {"version": 1},
    ),
    ("POST", "/api/appointments/{appointment_id}/notes/addenda/"): lambda w: (
        f"/api/appointments/{w.completed.id}/notes/addenda/",
        {"text": "Matrix"},
    ),
    ("GET", "/api/appointments/{appointment_id}/recordings/"): lambda w: (
        f"/api/appointments/{w.started.id}/recordings/",
        None,
    ),
    ("GET", "/api/recordings/{recording_id}/"): lambda w: (
        f"/api/recordings/{w.recorded.id}/",
        None,
    ),
    ("GET", "/api/recordings/{recording_id}/media/"): lambda w: (
        f"/api/recordings/{w.recorded.id}/media/",
        None,
    ),
    ("PUT", "/api/recordings/{recording_id}/chunks/{seq}/"): lambda w: (
        f"/api/recordings/{w.recording.id}/chunks/0/",
        b"\x1a\x45\xdf\xa3 matrix chunk",
    ),
    ("GET", "/api/appointments/{appointment_id}/transcript/"): lambda w: (
        f"/api/appointments/{w.completed.id}/transcript/",
        None,
    ),
    ("POST", "/api/recordings/{recording_id}/transcription/"): lambda w: (
        f"/api/recordings/{w.recorded.id}/transcription/",
        {},
    ),
    ("PATCH", "/api/transcript-segments/{segment_id}/"): lambda w: (
        f"/api/transcript-segments/{w.segment.id}/",
        {"corrected_text": "Matrix"},
    ),
    ("POST", "/api/appointments/{appointment_id}/draft-note/"): lambda w: (
        f"/api/appointments/{w.completed.id}/draft-note/",
        {},
    ),
    ("GET", "/api/appointments/{appointment_id}/draft-note/"): lambda w: (
        f"/api/appointments/{w.completed.id}/draft-note/",
        None,
    ),
    ("GET", "/api/rooms/{room_id}/ice-servers"): lambda w: (
        f"/api/rooms/{w.started.room_id}/ice-servers",
        None,
    ),
    ("POST", "/api/rooms/{room_id}/calls/sessions/new"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/new",
        {},
    ),
    ("POST", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/new"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/s1/tracks/new",
        {"tracks": [TRACK]},
    ),
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/renegotiate"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/s1/renegotiate",
        {"sessionDescription": {"type": "answer", "sdp": "v=0"}},
    ),
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/close"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/s1/tracks/close",
        {"tracks": [{"mid": "0"}]},
    ),
    ("PUT", "/api/rooms/{room_id}/calls/sessions/{session_id}/tracks/update"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/s1/tracks/update",
        {"tracks": [TRACK]},
    ),
    ("GET", "/api/rooms/{room_id}/calls/sessions/{session_id}"): lambda w: (
        f"/api/rooms/{w.started.room_id}/calls/sessions/s1",
        None,
    ),
    ("GET", "/api/schema/"): lambda w: ("/api/schema/", None),
    ("GET", "/api/docs/"): lambda w: ("/api/docs/", None),
    ("GET", "/api/{unknown}/"): lambda w: ("/api/appointments/not-an-id/", None),
    ("POST", "/api/{unknown}/"): lambda w: ("/api/appointments/not-an-id/cancel/", {}),
}


def _with_note(world: World) -> Appointment:
    """The started visit with a note its doctor wrote (version 1): something to sign."""
    visit_note_save(
        user=world.doctor_x.user,
        appointment_id=world.started.id,
        sections={"plan": "Matrix"},
        base_version=0,
    )
    return world.started


def _appointments_state() -> list[tuple]:
    return list(Appointment.objects.order_by("pk").values_list("pk", "status", "start", "end"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "actor"),
    [(route, actor) for route in EXPECTED for actor in ACTORS],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value,
)
def test_each_caller_gets_the_expected_status(api, settings, recordings_store, route, actor):
    # Cloudflare Calls on, at an address where nothing listens: no row may need it.
    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "matrix-app", "matrix-secret"
    settings.CALLS_API_URL = "http://127.0.0.1:9/v1"
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # configured, never reached (see its rows)
    world = _build_world()
    path, data = REQUESTS[route](world)
    before = _appointments_state()
    response = api.as_user(world.users[actor]).call(route[0], path, data)
    assert response.status_code == EXPECTED[route][actor], (
        f"{route[0]} {path} as {actor}: {response.status_code} {response.content[:300]!r}"
    )
    if response.status_code >= 300:
        assert _appointments_state() == before, "a refused request changed an appointment"


def test_every_api_route_has_a_row():
    served = api_routes()
    missing = sorted(served - set(EXPECTED))
    assert not missing, f"routes under /api/ without a row in EXPECTED: {missing}"


def test_every_row_is_a_route_with_a_request_and_all_six_callers():
    stale = sorted(set(EXPECTED) - api_routes())
    assert not stale, f"rows for routes that no longer exist: {stale}"
    assert set(REQUESTS) == set(EXPECTED)
    for route, outcomes in EXPECTED.items():
        assert tuple(outcomes) == ACTORS, route
    assert {("GET", "/api/schema/"), ("GET", "/api/docs/")} <= set(EXPECTED)
