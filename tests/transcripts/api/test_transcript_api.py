"""The transcript API over the test client: the contract's fields, who reads it when (the
patient only once the visit is over; strangers 404), the text and WebVTT exports, the doctor's
corrections (the original kept) and the access log of every read."""

import re

import pytest
from django.test import Client

from rooms.transcripts.models import Transcription, TranscriptSegment
from tests.factories import at, bearer, make_admin, make_appointment, make_doctor, make_patient
from tests.transcripts.factories import DIALOGUE, make_segment, make_transcript, make_transcription
from visits.models import AccessLogEntry, AppointmentStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=-30), status=AppointmentStatus.IN_PROGRESS)


@pytest.fixture
def segments(visit):
    return make_transcript(visit)


def url(visit, query=""):
    return f"/api/appointments/{visit.id}/transcript/{query}"


def get(user, path):
    return Client().get(path, headers=bearer(user))


def patch(user, segment, body):
    return Client().patch(
        f"/api/transcript-segments/{segment.id}/",
        body,
        content_type="application/json",
        headers=bearer(user),
    )


def transcript_entries(**filters):
    return AccessLogEntry.objects.filter(what=AccessLogEntry.What.TRANSCRIPT, **filters)


# --- Reading it ---------------------------------------------------------------------------------


def test_the_doctor_reads_every_segment_in_time_order_with_the_contracts_fields(visit, segments):
    later = make_transcription(visit)  # stopped and started again: after the first on the clock
    make_segment(later, speaker="patient", start_ms=60_000, text="Thank you, doctor.")

    response = get(visit.doctor.user, url(visit))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"appointment", "status", "segments"}
    assert body["appointment"] == visit.id
    assert body["status"] == "ready"
    first = body["segments"][0]
    assert set(first) == {"id", "speaker", "start_ms", "end_ms", "text", "corrected_text", "engine"}
    assert first["speaker"] == {
        "user_id": visit.doctor.user_id,
        "role": "doctor",
        "display_name": visit.doctor.user.display_name,
    }
    assert [s["text"] for s in body["segments"]] == [t for _, t in DIALOGUE] + [
        "Thank you, doctor."
    ]
    assert [s["start_ms"] for s in body["segments"]] == sorted(
        s["start_ms"] for s in body["segments"]
    )


def test_status_says_live_while_a_transcription_runs_and_off_before_any(visit):
    assert get(visit.doctor.user, url(visit)).json() == {
        "appointment": visit.id,
        "status": "off",
        "segments": [],
    }
    make_transcription(visit, status=Transcription.Status.LIVE)
    assert get(visit.doctor.user, url(visit)).json()["status"] == "live"


def test_the_patient_reads_it_only_once_the_visit_is_over(visit, segments):
    patient = visit.patient.user
    during = get(patient, url(visit))
    assert during.status_code == 403
    assert "once the visit is over" in during.json()["detail"]

    visit.status = AppointmentStatus.COMPLETED
    visit.save(update_fields=["status"])
    after = get(patient, url(visit))
    assert after.status_code == 200
    assert len(after.json()["segments"]) == len(DIALOGUE)


@pytest.mark.parametrize("query", ["", "?format=txt", "?format=vtt"])
def test_strangers_get_a_json_404_and_nobody_signed_out_gets_anything(visit, segments, query):
    for stranger in (make_patient().user, make_doctor().user):
        response = get(stranger, url(visit, query))
        assert response.status_code == 404
        assert response.json() == {"detail": "No such appointment."}
    assert Client().get(url(visit, query)).status_code == 401
    assert not transcript_entries().exists()


def test_staff_read_it_and_every_read_is_in_the_access_log(visit, segments):
    admin = make_admin()
    assert get(admin, url(visit)).status_code == 200
    assert get(visit.doctor.user, url(visit, "?format=vtt")).status_code == 200

    viewed = transcript_entries(viewer=admin, action=AccessLogEntry.Action.VIEW).get()
    assert viewed.appointment_id == visit.id and viewed.patient_id == visit.patient_id
    exported = transcript_entries(
        viewer=visit.doctor.user, action=AccessLogEntry.Action.DOWNLOAD
    ).get()
    assert "vtt" in exported.record


def test_an_unknown_format_is_a_json_400(visit, segments):
    response = get(visit.doctor.user, url(visit, "?format=pdf"))
    assert response.status_code == 400
    assert "txt or vtt" in response.json()["detail"]


# --- Exports ------------------------------------------------------------------------------------


def test_the_text_export_is_a_line_per_segment_with_time_speaker_and_the_correction(
    visit, segments
):
    segments[1].corrected_text = "I have had headaches for three weeks."
    segments[1].save()

    response = get(visit.doctor.user, url(visit, "?format=txt"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="transcript-')
    lines = response.content.decode().splitlines()
    doctor, patient = visit.doctor.user.display_name, visit.patient.user.display_name
    assert lines[2:] == [
        f"[00:00] {doctor}: Good morning. What brings you in today?",
        f"[00:03] {patient}: I have had headaches for three weeks.",
        f"[00:06] {doctor}: Your blood pressure is one hundred and fifty over ninety.",
        f"[00:09] {doctor}: I will increase the lisinopril to twenty milligrams.",
    ]


CUE = re.compile(
    r"^(?P<id>\d+)\n(?P<start>\d\d:\d\d:\d\d\.\d{3}) --> (?P<end>\d\d:\d\d:\d\d\.\d{3})\n"
    r"<v (?P<voice>[^>]+)>(?P<text>.+)$"
)


def vtt_ms(stamp: str) -> int:
    hours, minutes, rest = stamp.split(":")
    seconds, millis = rest.split(".")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def test_the_webvtt_export_parses_back_to_the_segments(visit, segments):
    segments[0].corrected_text = "Good morning <Mr> & welcome."
    segments[0].save()

    response = get(visit.doctor.user, url(visit, "?format=vtt"))

    assert response["Content-Type"] == "text/vtt; charset=utf-8"
    header, *blocks = response.content.decode().rstrip("\n").split("\n\n")
    assert header.startswith("WEBVTT")
    cues = [CUE.match(block) for block in blocks]
    assert all(cues), blocks
    assert [int(cue["id"]) for cue in cues] == [s.id for s in segments]
    assert [(vtt_ms(c["start"]), vtt_ms(c["end"])) for c in cues] == [
        (s.start_ms, s.end_ms) for s in segments
    ]
    assert [c["voice"] for c in cues] == [s.speaker_name for s in segments]
    assert cues[0]["text"] == "Good morning &lt;Mr&gt; &amp; welcome."
    assert cues[1]["text"] == segments[1].text


# --- Corrections --------------------------------------------------------------------------------


def test_the_doctor_corrects_a_segment_and_the_original_is_kept(visit, segments):
    segment = segments[3]

    response = patch(visit.doctor.user, segment, {"corrected_text": "  I will raise it to 20 mg. "})

    assert response.status_code == 200
    assert response.json()["corrected_text"] == "I will raise it to 20 mg."
    assert response.json()["text"] == DIALOGUE[3][1]
    segment.refresh_from_db()
    assert segment.text == DIALOGUE[3][1]
    assert (segment.corrected_by, segment.corrected_at is not None) == (visit.doctor.user, True)
    assert transcript_entries(action=AccessLogEntry.Action.UPDATE).get().record == (
        f"segment {segment.id}"
    )
    # The transcript shows it; an empty correction takes it back.
    shown = get(visit.doctor.user, url(visit)).json()["segments"][3]
    assert shown["corrected_text"] == "I will raise it to 20 mg."
    assert patch(visit.doctor.user, segment, {"corrected_text": ""}).json()["corrected_text"] == ""
    segment.refresh_from_db()
    assert (segment.corrected_text, segment.corrected_by) == ("", None)


def test_only_the_visits_doctor_corrects(visit, segments):
    segment = segments[0]
    assert patch(visit.patient.user, segment, {"corrected_text": "x"}).status_code == 403
    assert patch(make_admin(), segment, {"corrected_text": "x"}).status_code == 403
    for stranger in (make_patient().user, make_doctor().user):
        response = patch(stranger, segment, {"corrected_text": "x"})
        assert response.status_code == 404
        assert response.json() == {"detail": "No such transcript segment."}
    assert Client().patch(f"/api/transcript-segments/{segment.id}/", {}).status_code == 401
    assert TranscriptSegment.objects.get(pk=segment.pk).corrected_text == ""


def test_a_bad_correction_is_a_400_that_changes_nothing(visit, segments):
    segment = segments[0]
    for body in ({}, {"corrected_text": 12}, {"corrected_text": "x" * 4001}):
        response = patch(visit.doctor.user, segment, body)
        assert response.status_code == 400, body
        assert "corrected_text" in response.json()
    assert get(visit.doctor.user, "/api/transcript-segments/999999/").status_code == 405
    assert patch(visit.doctor.user, segments[0], {"corrected_text": "ok"}).status_code == 200
    missing = Client().patch(
        "/api/transcript-segments/999999/",
        {"corrected_text": "x"},
        content_type="application/json",
        headers=bearer(visit.doctor.user),
    )
    assert missing.status_code == 404
