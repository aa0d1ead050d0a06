"""The AI scribe end to end against the OpenAI stand-in over real HTTP: the doctor asks (202),
the worker's task sends the transcript (and the key only in its header) to Chat Completions,
the draft arrives in the doctor's room and from GET, section by section with its citations;
409 without a language model, 404 for everyone but the visit's doctor, a failure kept."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.test import Client

from rooms.selectors import room_group
from rooms.transcripts.models import DraftNote
from rooms.transcripts.services.draft_notes import draft_note_write
from standins.openai.testkit import running_standin
from tests.factories import at, bearer, make_admin, make_appointment, make_doctor, make_patient
from tests.transcripts.factories import make_transcript
from visits.models import AccessLogEntry, AppointmentStatus

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

KEY = "sk-llm-test-0123456789abcdef"


@pytest.fixture(scope="module")
def llm():
    with running_standin(api_key=KEY) as running:
        yield running


@pytest.fixture
def configured(settings, llm):
    llm.forget_requests()
    llm.clear_faults()
    settings.LLM_BASE_URL = llm.base_url
    settings.LLM_API_KEY = KEY
    settings.LLM_MODEL = "scribe-test-model"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    yield llm
    llm.clear_faults()


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=-20), status=AppointmentStatus.IN_PROGRESS)


@pytest.fixture
def segments(visit):
    return make_transcript(visit)


def url(visit):
    return f"/api/appointments/{visit.id}/draft-note/"


def post(user, visit):
    return Client().post(url(visit), headers=bearer(user))


def get(user, visit):
    return Client().get(url(visit), headers=bearer(user))


def test_the_doctor_asks_and_the_draft_quotes_and_cites_the_transcript(
    configured, visit, segments, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        asked = post(visit.doctor.user, visit)

    assert asked.status_code == 202
    assert asked.json()["status"] == "pending"
    draft = get(visit.doctor.user, visit).json()
    assert draft["status"] == "ready", draft
    assert draft["model"] == "scribe-test-model"
    assert set(draft["sections"]) == {"subjective", "objective", "assessment", "plan"}
    written = " ".join(draft["sections"].values())
    assert "headaches for two weeks" in written and "lisinopril" in written
    cited = {n for ids in draft["cited_segments"].values() for n in ids}
    assert cited and cited <= {s.id for s in segments}

    [request] = [r for r in configured.requests() if r["path"] == "/v1/chat/completions"]
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["json"]
    assert body["model"] == "scribe-test-model"
    assert body["response_format"]["type"] == "json_schema"
    sent = "\n".join(m["content"] for m in body["messages"])
    for segment in segments:  # every segment, numbered, so the draft can cite it
        assert f"[{segment.id}] {segment.speaker_name}" in sent and segment.text in sent

    log = AccessLogEntry.objects.filter(appointment=visit)
    assert log.filter(
        what=AccessLogEntry.What.DRAFT_NOTE,
        action=AccessLogEntry.Action.CREATE,
        viewer=visit.doctor.user,
    ).exists()
    sent_to_model = log.get(what=AccessLogEntry.What.TRANSCRIPT, channel="system")
    assert "scribe-test-model" in sent_to_model.reason


def test_the_draft_arrives_in_the_doctors_room(configured, visit, segments):
    draft = DraftNote.objects.create(appointment=visit, requested_by=visit.doctor.user)

    # One event loop for the listening channel: the pub/sub layer's channels belong to the loop
    # that made them (the task itself sends from wherever it runs).
    async def listen_while_the_task_writes() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(room_group(visit.room_id.hex), channel)
        try:
            await sync_to_async(draft_note_write)(draft_note_id=draft.pk)
            return await asyncio.wait_for(layer.receive(channel), timeout=10)
        finally:
            await layer.group_discard(room_group(visit.room_id.hex), channel)

    event = async_to_sync(listen_while_the_task_writes)()
    assert event["type"] == "room.draft_note"
    assert event["draft_note"]["id"] == draft.pk
    assert event["draft_note"]["status"] == "ready"


def test_a_model_that_keeps_failing_leaves_a_failed_draft_saying_why(
    configured, visit, segments, django_capture_on_commit_callbacks
):
    configured.fault(path="/v1/chat/completions", status=500, times=5)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(visit.doctor.user, visit).status_code == 202

    draft = get(visit.doctor.user, visit).json()
    assert draft["status"] == "failed"
    assert draft["failure"]
    assert draft["sections"] == {"subjective": "", "objective": "", "assessment": "", "plan": ""}


def test_without_a_language_model_asking_is_a_409(settings, visit, segments):
    settings.LLM_BASE_URL = None
    response = post(visit.doctor.user, visit)
    assert response.status_code == 409
    assert "LLM_BASE_URL" in response.json()["detail"]
    assert not DraftNote.objects.exists()


def test_without_a_transcript_asking_is_a_409(configured, visit):
    response = post(visit.doctor.user, visit)
    assert response.status_code == 409
    assert "no transcript" in response.json()["detail"]


def test_asking_again_while_drafting_gives_the_same_draft(configured, visit, segments):
    first = post(visit.doctor.user, visit).json()  # not committed: stays pending
    assert post(visit.doctor.user, visit).json()["id"] == first["id"]
    assert DraftNote.objects.count() == 1


def test_nobody_but_the_visits_doctor_asks_or_reads(configured, visit, segments):
    DraftNote.objects.create(appointment=visit, requested_by=visit.doctor.user)
    others = (visit.patient.user, make_admin(), make_patient().user, make_doctor().user)
    for other in others:
        assert post(other, visit).status_code == 404
        assert get(other, visit).status_code == 404
    assert Client().post(url(visit)).status_code == 401
    assert DraftNote.objects.count() == 1
    assert configured.requests() == []


def test_reading_before_any_draft_is_a_404(configured, visit):
    response = get(visit.doctor.user, visit)
    assert response.status_code == 404
    assert "No draft note" in response.json()["detail"]
