"""The AI scribe in the doctor's room, as the doctor uses it: "Draft note" (the clinic has a
language model: here the OpenAI stand-in, over real HTTP, reached by the worker), the draft
shown beside the doctor's own note section by section, Accept adding it after what the doctor
wrote (never over it), Discard dropping it; the model's key never reaches the page."""

import json

import pytest

from standins.openai.testkit import running_standin
from tests.e2e.visit import TIMEOUT, sign_in
from tests.live_server import LiveServer, LiveWorker, development_environment, run_python

pytestmark = pytest.mark.slow

LLM_KEY = "sk-e2e-llm-never-in-the-browser"

# Hanako's visit with Dr. Tanaka today gets a finished transcript, as a live one leaves it.
TRANSCRIBED = """
import json, sys
import django
django.setup()
from django.utils import timezone
from rooms.transcripts.models import Transcription, TranscriptSegment
from visits.models import Appointment
visit = Appointment.objects.filter(
    patient__user__username="hanako", doctor__user__username="dr.tanaka", start__gte=timezone.now()
).order_by("start").first()
done = Transcription.objects.create(
    appointment=visit, requested_by=visit.doctor.user, status="done", engine="local",
    started_at=timezone.now(), ended_at=timezone.now(),
)
for at, (who, text) in enumerate(json.loads(sys.argv[1])):
    user = visit.doctor.user if who == "doctor" else visit.patient.user
    TranscriptSegment.objects.create(
        transcription=done, appointment=visit, speaker=user, speaker_role=who,
        speaker_name=user.display_name, start_ms=at * 3000, end_ms=at * 3000 + 2500, text=text,
        engine="local",
    )
"""
SAID = [
    ["patient", "I have had headaches for two weeks."],
    ["doctor", "Your blood pressure is one hundred and fifty over ninety."],
    ["doctor", "I will increase the lisinopril to twenty milligrams."],
]


@pytest.fixture
def scribe_clinic(tmp_path, demo_clinic_database):
    with running_standin(api_key=LLM_KEY) as llm:
        env = development_environment(
            SQLITE_PATH=str(demo_clinic_database),
            MEDIA_ROOT=str(tmp_path / "media"),
            ICE_SERVERS="stun:127.0.0.1:9",
            LLM_BASE_URL=llm.base_url,
            LLM_API_KEY=LLM_KEY,
            LLM_MODEL="e2e-scribe",
        )
        run_python(env, "-c", TRANSCRIBED, json.dumps(SAID))
        with (
            LiveServer(env, tmp_path / "daphne.log") as server,
            LiveWorker(env, tmp_path / "worker.log") as worker,
        ):
            yield server.http_url, llm
            assert server.errors() == [], server.log_tail()
            assert worker.errors() == [], worker.log_tail()


def test_the_draft_comes_beside_the_note_and_accepting_never_overwrites(scribe_clinic, browser):
    base, llm = scribe_clinic
    doctor = sign_in(browser, base, "dr.tanaka", "doctor-demo-pass")
    room_path = doctor.get_attribute("a:has-text('Join')", "href")
    doctor.goto(base + room_path)
    assert LLM_KEY not in doctor.content()
    doctor.click("#join-button")
    doctor.fill("#note-subjective", "Came in for a check.")

    doctor.click("#draft-note-button")

    doctor.wait_for_selector("#draft-subjective", timeout=TIMEOUT)
    assert "accept, edit or discard" in doctor.text_content("#draft-note-status")
    drafted = doctor.input_value("#draft-subjective textarea")
    assert "headaches for two weeks" in drafted
    assert doctor.query_selector("#draft-subjective .draft__cites a")  # cites a segment
    doctor.click("#draft-subjective button:has-text('Accept')")
    assert doctor.input_value("#note-subjective") == f"Came in for a check.\n\n{drafted}"
    assert doctor.query_selector("#draft-subjective") is None
    plan_before = doctor.input_value("#note-plan")
    doctor.click("#draft-plan button:has-text('Discard')")
    assert doctor.query_selector("#draft-plan") is None
    assert doctor.input_value("#note-plan") == plan_before

    [asked] = [r for r in llm.requests() if r["path"] == "/v1/chat/completions"]
    assert asked["headers"]["Authorization"] == f"Bearer {LLM_KEY}"
    sent = "\n".join(m["content"] for m in asked["json"]["messages"])
    assert all(text in sent for _, text in SAID)
