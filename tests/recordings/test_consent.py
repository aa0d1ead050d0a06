"""The consent state machine (rooms.recordings.services.consent) and the room's view of it
(recording_live_get): nothing is on unless everyone admitted has allowed it."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection

from clinic.errors import (
    NotFoundError,
    NotYoursError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from rooms.consent.rules import CaptureRules
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.selectors import recording_live_get
from rooms.recordings.services import consent
from rooms.recordings.services.consent import RecordingLiveError, RecordingOverError
from tests.factories import make_appointment, make_patient

pytestmark = pytest.mark.django_db

ALLOWED = RecordingConsent.Decision.ALLOWED
DECLINED = RecordingConsent.Decision.DECLINED
WITHDRAWN = RecordingConsent.Decision.WITHDRAWN


@pytest.fixture
def visit():
    return make_appointment()


def people(visit):
    return visit.doctor.user, visit.patient.user


def both(visit) -> set[int]:
    return {visit.doctor.user_id, visit.patient.user_id}


def request(visit, admitted=None) -> Recording:
    return consent.recording_request(
        user=visit.doctor.user,
        appointment_id=visit.pk,
        admitted_user_ids=both(visit) if admitted is None else admitted,
    )


def decide(visit, user, recording, decision, admitted=None) -> Recording:
    return consent.recording_decide(
        user=user,
        recording_id=recording.pk,
        decision=decision,
        admitted_user_ids=both(visit) if admitted is None else admitted,
        appointment_id=visit.pk,
    )


def test_a_server_without_a_recordings_key_refuses_before_anyone_is_asked(visit, settings):
    settings.RECORDINGS_KEY = ""
    with pytest.raises(ServiceUnavailableError, match="RECORDINGS_KEY"):
        request(visit)
    assert not Recording.objects.exists()


def room_view(visit, admitted=None) -> dict:
    return recording_live_get(
        appointment_id=visit.pk, admitted_user_ids=both(visit) if admitted is None else admitted
    )


def decisions(recording) -> list[tuple[int, str, str]]:
    return list(recording.consents.order_by("at", "pk").values_list("user_id", "role", "decision"))


def age(recording, seconds: float) -> None:
    """Move the recording's clock back, as if it had been on for `seconds` more."""
    Recording.objects.filter(pk=recording.pk).update(
        resumed_at=recording.resumed_at - timedelta(seconds=seconds)
    )


def test_nothing_live_is_off():
    visit = make_appointment()
    assert room_view(visit) == {
        "state": "off",
        "id": None,
        "requested_by": None,
        "allowed": [],
        "waiting_for": [],
        "seconds": 0.0,
        "ended": None,
    }


def test_a_request_waits_for_the_patient_and_their_allow_turns_it_on(visit):
    doctor, patient = people(visit)
    recording = request(visit)
    assert recording.status == Recording.Status.PENDING and recording.started_at is None
    view = room_view(visit)
    assert view["state"] == "pending" and view["id"] == str(recording.pk)
    assert view["requested_by"] == {"user_id": doctor.id, "display_name": visit.doctor.display_name}
    assert (view["allowed"], view["waiting_for"]) == ([doctor.id], [patient.id])

    recording = decide(visit, patient, recording, ALLOWED)
    assert recording.status == Recording.Status.RECORDING
    assert recording.started_at == recording.resumed_at is not None
    view = room_view(visit)
    assert view["state"] == "on" and view["waiting_for"] == []
    assert view["allowed"] == sorted([doctor.id, patient.id])
    assert decisions(recording) == [
        (doctor.id, "doctor", "allowed"),
        (patient.id, "patient", "allowed"),
    ]


def test_alone_with_nobody_to_ask_it_is_on_at_once(visit):
    recording = request(visit, admitted={visit.doctor.user_id})
    assert recording.status == Recording.Status.RECORDING and recording.resumed_at is not None
    assert room_view(visit, {visit.doctor.user_id})["state"] == "on"


def test_a_decline_stops_it_and_nothing_was_ever_started(visit):
    doctor, patient = people(visit)
    recording = decide(visit, patient, request(visit), DECLINED)
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DECLINED
    assert recording.started_at is None and recording.seconds_on_before == 0
    assert (recording.stop_reason, recording.stopped_by_id) == ("declined", patient.id)
    assert decisions(recording) == [
        (doctor.id, "doctor", "allowed"),
        (patient.id, "patient", "declined"),
    ]
    view = room_view(visit)
    assert view["state"] == "off" and view["id"] is None
    assert view["ended"] == {
        "recording_id": str(recording.pk),
        "reason": "declined",
        "by": {"user_id": patient.id, "display_name": visit.patient.full_name},
    }
    # Declined stays declined: allowing afterwards starts nothing.
    with pytest.raises(RecordingOverError):
        decide(visit, patient, recording, ALLOWED)
    # ... and the doctor may ask again.
    assert request(visit).status == Recording.Status.PENDING


def test_a_withdrawal_stops_it_at_once_and_is_stored(visit):
    _, patient = people(visit)
    recording = decide(visit, patient, request(visit), ALLOWED)
    age(recording, 12)
    recording = decide(visit, patient, recording, WITHDRAWN)
    assert recording.status == Recording.Status.RECORDING  # stopped, finalising next
    assert recording.ended_at is not None and recording.resumed_at is None
    assert (recording.stop_reason, recording.stopped_by_id) == ("withdrawn", patient.id)
    assert recording.seconds_on_before == pytest.approx(12, abs=1)
    assert [d for _, _, d in decisions(recording)] == ["allowed", "allowed", "withdrawn"]
    view = room_view(visit)
    assert view["state"] == "off" and view["ended"]["reason"] == "withdrawn"
    # Withdrawing again after it stopped stores nothing more: their consent is gone already.
    decide(visit, patient, recording, WITHDRAWN)
    assert [d for _, _, d in decisions(recording)] == ["allowed", "allowed", "withdrawn"]


def test_a_withdrawal_after_it_stopped_is_still_stored(visit):
    doctor, patient = people(visit)
    recording = decide(visit, patient, request(visit), ALLOWED)
    consent.recording_stop_by(user=doctor, recording_id=recording.pk, appointment_id=visit.pk)
    decide(visit, patient, recording, WITHDRAWN)
    assert [d for _, _, d in decisions(recording)] == ["allowed", "allowed", "withdrawn"]
    recording.refresh_from_db()
    assert recording.stop_reason == "stopped"  # how it stopped does not change


def test_anyone_in_the_visit_stops_it(visit):
    _, patient = people(visit)
    recording = decide(visit, patient, request(visit), ALLOWED)
    stopped = consent.recording_stop_by(
        user=patient, recording_id=recording.pk, appointment_id=visit.pk
    )
    assert (stopped.stop_reason, stopped.stopped_by_id) == ("stopped", patient.id)
    assert stopped.ended_at is not None
    assert room_view(visit)["ended"]["reason"] == "stopped"


def test_someone_new_admitted_pauses_it_until_they_allow(visit):
    doctor, patient = people(visit)
    recording = request(visit, admitted={doctor.id})
    age(recording, 5)
    paused = consent.participant_admitted(appointment_id=visit.pk, user_id=patient.id)
    assert paused.resumed_at is None and paused.seconds_on_before == pytest.approx(5, abs=1)
    view = room_view(visit)
    assert view["state"] == "paused" and view["waiting_for"] == [patient.id]
    assert view["seconds"] == pytest.approx(5, abs=1)

    resumed = decide(visit, patient, recording, ALLOWED)
    assert resumed.resumed_at is not None and resumed.started_at < resumed.resumed_at
    assert room_view(visit)["state"] == "on"


def test_a_reconnect_of_someone_who_allowed_does_not_pause_it(visit):
    doctor, patient = people(visit)
    recording = decide(visit, patient, request(visit), ALLOWED)
    for user in (patient, doctor):
        again = consent.participant_admitted(appointment_id=visit.pk, user_id=user.id)
        assert again.resumed_at == recording.resumed_at
    assert room_view(visit)["state"] == "on"


def test_a_pending_request_waits_for_someone_admitted_meanwhile(visit):
    doctor, patient = people(visit)
    request(visit, admitted={doctor.id, patient.id})
    consent.participant_admitted(appointment_id=visit.pk, user_id=patient.id)
    assert room_view(visit)["state"] == "pending"


def test_the_doctor_leaving_stops_it(visit):
    doctor, patient = people(visit)
    recording = decide(visit, patient, request(visit), ALLOWED)
    stopped = consent.participant_left(
        appointment_id=visit.pk, user_id=doctor.id, admitted_user_ids={patient.id}
    )
    assert stopped.ended_at is not None
    assert (stopped.stop_reason, stopped.stopped_by_id) == ("left", doctor.id)
    assert room_view(visit, {patient.id})["ended"]["reason"] == "left"
    assert recording.pk == stopped.pk


def test_the_doctor_leaving_a_pending_request_declines_it(visit):
    doctor, patient = people(visit)
    recording = request(visit)
    consent.participant_left(
        appointment_id=visit.pk, user_id=doctor.id, admitted_user_ids={patient.id}
    )
    recording.refresh_from_db()
    assert recording.status == Recording.Status.DECLINED and recording.stop_reason == "left"


def test_the_one_it_waited_for_leaving_resumes_it(visit):
    doctor, patient = people(visit)
    request(visit, admitted={doctor.id})
    consent.participant_admitted(appointment_id=visit.pk, user_id=patient.id)
    assert room_view(visit)["state"] == "paused"
    resumed = consent.participant_left(
        appointment_id=visit.pk, user_id=patient.id, admitted_user_ids={doctor.id}
    )
    assert resumed.resumed_at is not None and resumed.ended_at is None
    assert room_view(visit, {doctor.id})["state"] == "on"


def test_the_one_it_waited_for_leaving_starts_a_pending_one(visit):
    doctor, patient = people(visit)
    request(visit)
    consent.participant_left(appointment_id=visit.pk, user_id=patient.id, admitted_user_ids=set())
    assert room_view(visit, {doctor.id})["state"] == "on"


def test_the_visit_ending_stops_it(visit):
    doctor, patient = people(visit)
    decide(visit, patient, request(visit), ALLOWED)
    stopped = consent.visit_ended(appointment_id=visit.pk, ended_by=doctor)
    assert (stopped.stop_reason, stopped.stopped_by_id) == ("visit_ended", doctor.id)
    assert consent.visit_ended(appointment_id=visit.pk) is None  # nothing live any more


def test_settle_pauses_for_someone_admitted_but_not_asked(visit):
    """What the room does after a request with a fresh read of who is admitted: a patient let
    in between the request's read and its commit is not recorded unasked."""
    doctor, patient = people(visit)
    request(visit, admitted={doctor.id})
    settled = consent.recording_settle(appointment_id=visit.pk, admitted_user_ids=both(visit))
    assert settled.resumed_at is None
    assert room_view(visit)["waiting_for"] == [patient.id]


def test_only_the_doctor_asks(visit):
    with pytest.raises(PermissionDeniedError):
        consent.recording_request(
            user=visit.patient.user, appointment_id=visit.pk, admitted_user_ids=both(visit)
        )
    assert not Recording.objects.exists()


def test_a_second_request_while_one_is_live_is_refused(visit):
    request(visit)
    with pytest.raises(RecordingLiveError):
        request(visit)
    assert Recording.objects.count() == 1


def test_a_request_that_loses_the_race_to_the_insert_is_refused(visit, monkeypatch):
    """Another process's request committed between this one's look and its insert: the
    database's one-live-recording constraint decides, and the loser is told recording_live."""
    request(visit)
    monkeypatch.setattr(CaptureRules, "_live_locked", lambda self, **_: None)
    with pytest.raises(RecordingLiveError):
        request(visit)
    assert Recording.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL (CI runs it)"
)
def test_two_requests_at_once_make_one_live_recording():
    visit = make_appointment()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def press_record():
        try:
            barrier.wait()
            request(visit)
            outcomes.append("requested")
        except RecordingLiveError:
            outcomes.append("recording_live")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=press_record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["recording_live"] * 7 + ["requested"]
    assert Recording.objects.filter(appointment=visit).count() == 1
    assert RecordingConsent.objects.filter(recording__appointment=visit).count() == 1


def test_a_recording_of_another_visit_is_not_found(visit):
    _, patient = people(visit)
    recording = request(visit)
    other = make_appointment(patient=visit.patient)
    with pytest.raises(NotFoundError):
        consent.recording_decide(
            user=patient,
            recording_id=recording.pk,
            decision=ALLOWED,
            admitted_user_ids=both(visit),
            appointment_id=other.pk,
        )
    with pytest.raises(NotFoundError):
        consent.recording_stop_by(user=patient, recording_id=recording.pk, appointment_id=other.pk)
    assert room_view(visit)["state"] == "pending"


def test_a_stranger_has_no_say(visit):
    recording = request(visit)
    stranger = make_patient().user
    with pytest.raises(NotYoursError):
        decide(visit, stranger, recording, DECLINED)
    assert room_view(visit)["state"] == "pending"
    assert RecordingConsent.objects.filter(user=stranger).count() == 0


def test_allowing_twice_stores_one_consent(visit):
    _, patient = people(visit)
    recording = request(visit)
    decide(visit, patient, recording, ALLOWED)
    decide(visit, patient, recording, ALLOWED)
    assert [d for _, _, d in decisions(recording)] == ["allowed", "allowed"]


def test_seconds_count_only_the_time_on(visit):
    doctor, patient = people(visit)
    recording = request(visit, admitted={doctor.id})
    age(recording, 10)
    consent.participant_admitted(appointment_id=visit.pk, user_id=patient.id)  # paused
    assert room_view(visit)["seconds"] == pytest.approx(10, abs=1)
    recording = decide(visit, patient, recording, ALLOWED)
    age(recording, 3)
    assert room_view(visit)["seconds"] == pytest.approx(13, abs=1)
