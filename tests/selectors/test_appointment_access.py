"""Who may do what to an appointment: every kind of caller x every capability, from ONE table.

Each capability is exercised through the entry point its surface uses (the API's selectors and
services, the notes API, the room page, the room WebSocket, the Calls proxy's rules), so the
table holds for every surface at once; a surface with its own copy of the rule shows up here
as a cell that disagrees. Outcomes are the application's refusal kinds, not HTTP statuses or
close codes: each surface maps those in one place (the API's exception handler, the consumer's
close-code table).

The visit is patient A's with doctor X. Each case builds its own world, so an allowed action
in one case cannot change another's.
"""

from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from rest_framework.test import APIRequestFactory, force_authenticate

from clinic import errors
from rooms.routing import websocket_urlpatterns
from rooms.state import ADMITTED, Participant, get_room_state_store
from tests.factories import (
    at,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
    make_user,
    next_day,
    slot_at,
)
from visits import selectors, services
from visits.models import Appointment, Doctor, Patient, Role, User

pytestmark = pytest.mark.django_db

OK, NOT_SIGNED_IN, NOT_YOURS, FORBIDDEN, INVALID = (
    "ok",
    "not signed in",
    "not yours",
    "forbidden",
    "invalid",
)

CALLERS = (
    "patient",  # the visit's patient
    "other_patient",
    "doctor",  # the visit's doctor
    "other_doctor",
    "staff",  # clinic staff: the admin role
    "superuser",  # a superuser without a doctor or patient profile
    "superuser_doctor",  # the visit's doctor, whose account is also a superuser
    "anonymous",
    "inactive",  # the visit's patient, deactivated
)


def row(patient, other_patient, doctor, other_doctor, staff, superuser, su_doctor, anon, inactive):
    values = (patient, other_patient, doctor, other_doctor, staff, superuser, su_doctor, anon)
    return dict(zip(CALLERS, (*values, inactive), strict=True))


N, Y, F, S = NOT_SIGNED_IN, NOT_YOURS, FORBIDDEN, OK
# Columns:                        P  other  D  other  staff  su  su-doctor  anon  inactive
EXPECTED: dict[str, dict[str, str]] = {
    "view appointment": row(S, Y, S, Y, S, S, S, N, N),
    "view chart": row(S, Y, S, Y, S, S, S, N, N),
    "read note": row(F, Y, S, Y, S, S, S, N, N),
    "read note history": row(F, Y, S, Y, S, S, S, N, N),
    "write note": row(F, Y, S, Y, F, F, S, N, N),
    "add addendum": row(F, Y, S, Y, F, F, S, N, N),
    "sign note": row(F, Y, S, Y, F, F, S, N, N),
    # The whole record goes to whoever may open the chart.
    "export record": row(S, Y, S, Y, S, S, S, N, N),
    # Staff run the clinic from outside the room: the room is its doctor's and its patient's.
    "open room page": row(S, Y, S, Y, Y, Y, S, N, N),
    "enter room socket": row(S, Y, S, Y, Y, Y, S, N, N),
    "use Calls": row(S, Y, S, Y, Y, Y, S, N, N),
    # A patient books for themself (naming another patient is a bad request); staff book for
    # a patient; doctors do not book.
    "book": row(S, INVALID, F, F, S, S, S, N, N),
    "cancel": row(S, Y, S, Y, S, S, S, N, N),
    "reschedule": row(S, Y, S, Y, S, S, S, N, N),
    "confirm": row(F, Y, S, Y, S, S, S, N, N),
    "check in": row(S, Y, F, Y, S, S, F, N, N),
    "start": row(F, Y, S, Y, S, S, S, N, N),
    "complete": row(F, Y, S, Y, S, S, S, N, N),
    "no-show": row(F, Y, S, Y, S, S, S, N, N),
    # Recordings: seen and played by the visit's people and staff, uploaded by the recording
    # doctor, deleted (with a reason) by staff alone.
    "list recordings": row(S, Y, S, Y, S, S, S, N, N),
    "play recording": row(S, Y, S, Y, S, S, S, N, N),
    "upload chunk": row(F, Y, S, Y, F, F, S, N, N),
    "delete recording": row(F, Y, F, Y, S, S, F, N, N),
}


@dataclass
class World:
    caller: User | AnonymousUser
    patient: Patient
    doctor: Doctor
    future: Appointment  # requested, the day after tomorrow at 10:00 UTC
    started: Appointment  # confirmed, began ten minutes ago: its room is open
    completed: Appointment  # completed yesterday
    day: object


def _build_world(caller_kind: str) -> World:
    patient, other_patient = make_patient(), make_patient()
    doctor, other_doctor = make_doctor(), make_doctor()
    day = next_day(days=2)
    future = make_appointment(doctor=doctor, patient=patient, start=slot_at(day, 10))
    started = make_appointment(
        doctor=doctor, patient=patient, start=at(minutes=-10), status="confirmed"
    )
    completed = make_appointment(
        doctor=doctor, patient=patient, start=at(days=-1), status="completed"
    )
    # The strangers have visits of their own, so "not yours" is never "nobody's".
    make_appointment(doctor=other_doctor, patient=other_patient, start=slot_at(day, 10))
    caller = {
        "patient": lambda: patient.user,
        "other_patient": lambda: other_patient.user,
        "doctor": lambda: doctor.user,
        "other_doctor": lambda: other_doctor.user,
        "staff": make_admin,
        "superuser": lambda: _superuser(make_user(Role.PATIENT)),
        "superuser_doctor": lambda: _superuser(doctor.user),
        "anonymous": AnonymousUser,
        "inactive": lambda: _deactivated(patient.user),
    }[caller_kind]()
    return World(caller, patient, doctor, future, started, completed, day)


def _superuser(user: User) -> User:
    user.is_superuser = True
    services.user_sync_role_rights(user)
    return user


def _deactivated(user: User) -> User:
    user.is_active = False
    user.save()
    return user


# --- How each outcome reads as a refusal kind ---------------------------------------------------


def _kind_of_error(error: Exception) -> str:
    kinds = [
        (getattr(errors, "NotSignedInError", ()), NOT_SIGNED_IN),
        (errors.NotFoundError, NOT_YOURS),  # the world's appointment exists: hidden, not absent
        (errors.PermissionDeniedError, FORBIDDEN),
        (errors.ConflictError, "not open"),
        (errors.ApplicationError, INVALID),
        (Http404, NOT_YOURS),
    ]
    for error_type, kind in kinds:
        if error_type and isinstance(error, error_type):
            return kind
    raise error


def _outcome(call) -> str:
    try:
        result = call()
    except Exception as error:
        return _kind_of_error(error)
    return NOT_YOURS if result is None else OK


STATUS_KINDS = {200: OK, 201: OK, 302: NOT_SIGNED_IN, 401: NOT_SIGNED_IN, 403: FORBIDDEN}
STATUS_KINDS |= {404: NOT_YOURS}
CLOSE_KINDS = {4401: NOT_SIGNED_IN, 4403: NOT_YOURS, 4404: "not found", 4409: "not open"}


def _api_outcome(view, world: World, path: str, **kwargs) -> str:
    request = APIRequestFactory().get(path)
    if world.caller.is_authenticated:
        force_authenticate(request, user=world.caller)
    return STATUS_KINDS[view(request, **kwargs).status_code]


def _page_outcome(world: World) -> str:
    from rooms.views import room

    request = RequestFactory().get("/")
    request.user = world.caller
    request.session = {}
    try:
        response = room(request, room_id=world.started.room_id)
    except Exception as error:
        return _kind_of_error(error)
    return STATUS_KINDS[response.status_code]


def _socket_outcome(world: World) -> str:
    async def connect() -> str:
        path = f"/ws/rooms/{world.started.room_id}/"
        socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
        socket.scope["user"] = world.caller
        await socket.connect()
        try:
            first = await socket.receive_json_from(timeout=3)
            if first["type"] == "room.state":
                return OK
            return CLOSE_KINDS[first["code"]]
        finally:
            await socket.disconnect()
            # Each async_to_sync runs its own event loop: leave no Redis connection on this one.
            layer = get_channel_layer()
            if hasattr(layer, "close_pools"):
                await layer.close_pools()

    return async_to_sync(connect)()


def _calls_outcome(world: World, settings) -> str:
    from rooms.calls import rules

    settings.CALLS_APP_ID, settings.CALLS_APP_SECRET = "app", "secret"
    settings.CALLS_API_URL = "http://127.0.0.1:9/v1"
    # The visit's two people are in the room and admitted, as after the doctor let them in.
    visit = world.started
    for user in (visit.doctor.user, visit.patient.user):
        role = "doctor" if user.id == visit.doctor.user_id else "patient"
        participant = Participant(
            participant_id=f"p{user.id}",
            user_id=user.id,
            display_name=user.display_name,
            role=role,
            status=ADMITTED,
            channel_name=f"test.{user.id}",
        )
        async_to_sync(get_room_state_store().add)(visit.room_id.hex, participant, 0.0)
    return _outcome(lambda: rules.calls_caller(user=world.caller, room_id=visit.room_id))


def _notes_outcome(world: World, view_name: str) -> str:
    from visits.apis import notes

    view = getattr(notes, view_name).as_view()
    appointment_id = world.started.pk
    return _api_outcome(
        view, world, f"/api/appointments/{appointment_id}/notes/", appointment_id=appointment_id
    )


def _transition(world: World, action: str, appointment: Appointment) -> str:
    return _outcome(
        lambda: services.appointment_transition(
            user=world.caller, appointment_id=appointment.pk, action=action, reason="Table"
        )
    )


def _with_note(world: World) -> Appointment:
    """The started visit, with a note (version 1) its doctor wrote: something to sign."""
    services.visit_note_save(
        user=world.doctor.user,
        appointment_id=world.started.pk,
        sections={"plan": "Rest"},
        base_version=0,
    )
    return world.started


def _confirmed(world: World) -> Appointment:
    world.future.status = "confirmed"
    world.future.save()
    return world.future


def _recordings_api_outcome(world: World, view_name: str, path: str, **kwargs) -> str:
    from rooms.recordings import apis

    return _api_outcome(getattr(apis, view_name).as_view(), world, path, **kwargs)


def _ready_recording(world: World):
    from tests.recordings.factories import make_ready_recording

    return make_ready_recording(world.started, media=b"\x1a\x45\xdf\xa3 table")


def _play_outcome(world: World) -> str:
    recording = _ready_recording(world)
    return _recordings_api_outcome(
        world,
        "RecordingMediaApi",
        f"/api/recordings/{recording.id}/media/",
        recording_id=recording.id,
    )


def _upload_outcome(world: World) -> str:
    from rooms.recordings.services.chunks import recording_chunk_put
    from tests.recordings.factories import make_recording

    recording = make_recording(world.started)
    return _outcome(
        lambda: recording_chunk_put(
            user=world.caller, recording_id=recording.id, seq=0, data=b"\x1a\x45\xdf\xa3"
        )
    )


def _delete_recording_outcome(world: World) -> str:
    from rooms.recordings.services.deletion import recording_delete

    recording = _ready_recording(world)
    return _outcome(
        lambda: recording_delete(user=world.caller, recording_id=recording.id, reason="Table")
    )


CAPABILITIES = {
    "view appointment": lambda w, s: _outcome(
        lambda: selectors.appointment_get(user=w.caller, appointment_id=w.future.pk)
    ),
    "view chart": lambda w, s: _outcome(
        lambda: selectors.patient_chart_get(user=w.caller, patient_id=w.patient.pk)
    ),
    "read note": lambda w, s: _notes_outcome(w, "VisitNoteApi"),
    "read note history": lambda w, s: _notes_outcome(w, "VisitNoteVersionsApi"),
    "write note": lambda w, s: _outcome(
        lambda: services.visit_note_save(
            user=w.caller,
            appointment_id=w.started.pk,
            sections={"plan": "Rest"},
            base_version=0,
        )
    ),
    "add addendum": lambda w, s: _outcome(
        lambda: services.visit_note_addendum_add(
            user=w.caller, appointment_id=w.completed.pk, text="Later"
        )
    ),
    "sign note": lambda w, s: _outcome(
        lambda: services.visit_note_sign(
            user=w.caller, appointment_id=_with_note(w).pk, base_version=1
        )
    ),
    "export record": lambda w, s: _outcome(
        lambda: selectors.patient_record_get(user=w.caller, patient_id=w.patient.pk)
    ),
    "open room page": lambda w, s: _page_outcome(w),
    "enter room socket": lambda w, s: _socket_outcome(w),
    "use Calls": _calls_outcome,
    "book": lambda w, s: _outcome(
        lambda: services.appointment_book(
            booked_by=w.caller,
            doctor=w.doctor,
            patient=w.patient,
            start=slot_at(w.day, 11),
            reason="Table",
        )
    ),
    "cancel": lambda w, s: _transition(w, "cancel", w.future),
    "reschedule": lambda w, s: _outcome(
        lambda: services.appointment_reschedule(
            user=w.caller, appointment_id=w.future.pk, start=slot_at(w.day, 12)
        )
    ),
    "confirm": lambda w, s: _transition(w, "confirm", w.future),
    "check in": lambda w, s: _transition(w, "check_in", _confirmed(w)),
    "start": lambda w, s: _transition(w, "start", w.future),
    "complete": lambda w, s: _transition(w, "complete", w.started),
    "no-show": lambda w, s: _transition(w, "no_show", w.started),
    "list recordings": lambda w, s: _recordings_api_outcome(
        w,
        "RecordingListApi",
        f"/api/appointments/{w.started.pk}/recordings/",
        appointment_id=w.started.pk,
    ),
    "play recording": lambda w, s: _play_outcome(w),
    "upload chunk": lambda w, s: _upload_outcome(w),
    "delete recording": lambda w, s: _delete_recording_outcome(w),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("capability", list(EXPECTED))
def test_each_caller_gets_the_expected_outcome(capability, caller, settings, recordings_store):
    world = _build_world(caller)
    outcome = CAPABILITIES[capability](world, settings)
    assert outcome == EXPECTED[capability][caller], f"{caller} / {capability}"


def test_every_capability_has_a_way_in():
    assert set(CAPABILITIES) == set(EXPECTED)
    for outcomes in EXPECTED.values():
        assert tuple(outcomes) == CALLERS


def test_every_state_machine_action_is_a_capability_of_the_access_rule():
    from visits.selectors import APPOINTMENT_CAPABILITIES, Capability
    from visits.services import TRANSITIONS

    assert set(TRANSITIONS) <= set(Capability)
    assert set(APPOINTMENT_CAPABILITIES) == set(Capability)
    assert all(roles <= set(Role) for roles in APPOINTMENT_CAPABILITIES.values())
