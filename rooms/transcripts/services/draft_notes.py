"""The AI scribe: a draft SOAP note from the visit's transcript, asked for by its doctor and
written by the worker (rooms.transcripts.tasks.write_draft_note), through any server speaking
OpenAI's Chat Completions (LLM_BASE_URL: OpenAI, llama.cpp, vLLM, Ollama). The draft is shown
beside the doctor's own note; nothing here ever writes the note itself."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.errors import ConflictError
from clinic.integrations.openai.chat import chat_completion
from clinic.integrations.openai.errors import OpenAIError
from rooms.selectors import room_group
from rooms.transcripts.models import DraftNote, TranscriptSegment
from rooms.transcripts.scribe import (
    RESPONSE_FORMAT,
    SECTIONS,
    DraftAnswerError,
    draft_note_messages,
    draft_note_read,
)
from rooms.transcripts.selectors import draft_note_appointment_get
from visits.models import AccessLogEntry, User
from visits.services import record_access

logger = logging.getLogger(__name__)

NO_LLM = "No language model is configured for draft notes (LLM_BASE_URL)."
NO_TRANSCRIPT = "The visit has no transcript to draft a note from yet."


def draft_notes_available() -> bool:
    """The clinic configured a language model: the room shows the "Draft note" button."""
    return bool(settings.LLM_BASE_URL)


def draft_note_request(*, user: User, appointment_id: int, address: str = "") -> DraftNote:
    """Ask for a draft of the visit's note; the worker writes it. One at a time: while a draft
    is being written, asking again gives that one."""
    appointment = draft_note_appointment_get(user=user, appointment_id=appointment_id)
    if not draft_notes_available():
        raise ConflictError(NO_LLM)
    with transaction.atomic():
        pending = (
            DraftNote.objects.select_for_update()
            .filter(appointment=appointment, status=DraftNote.Status.PENDING)
            .first()
        )
        if pending is not None:
            return pending
        if not TranscriptSegment.objects.filter(appointment=appointment).exists():
            raise ConflictError(NO_TRANSCRIPT)
        draft = DraftNote.objects.create(
            appointment=appointment, requested_by=user, model=settings.LLM_MODEL
        )
        record_access(
            viewer=user,
            what=AccessLogEntry.What.DRAFT_NOTE,
            action=AccessLogEntry.Action.CREATE,
            channel=AccessLogEntry.Channel.API,
            appointment=appointment,
            record=f"draft note {draft.pk}",
            address=address,
        )
        from rooms.transcripts.tasks import write_draft_note

        transaction.on_commit(lambda: write_draft_note.enqueue(draft.pk))
    return draft


def draft_note_write(*, draft_note_id: int) -> DraftNote:
    """In the worker: send the transcript to the language model, store its draft (or why there
    is none), and tell the doctor's room."""
    draft = DraftNote.objects.select_related("appointment__patient").get(pk=draft_note_id)
    if draft.status != DraftNote.Status.PENDING:
        return draft  # a retried task: written already
    appointment = draft.appointment
    segments = list(
        TranscriptSegment.objects.filter(appointment=appointment).order_by("start_ms", "pk")
    )
    # The transcript leaves the clinic for the model: that is a read of it, by the system.
    record_access(
        viewer=None,
        what=AccessLogEntry.What.TRANSCRIPT,
        action=AccessLogEntry.Action.VIEW,
        channel=AccessLogEntry.Channel.SYSTEM,
        appointment=appointment,
        record=f"draft note {draft.pk}",
        reason=f"sent to the language model {settings.LLM_MODEL} for a draft note",
    )
    try:
        content = chat_completion(
            base_url=settings.LLM_BASE_URL,
            api_key=settings.LLM_API_KEY,
            model=settings.LLM_MODEL,
            messages=draft_note_messages(visit_title=str(appointment), segments=segments),
            response_format=RESPONSE_FORMAT,
            timeout=settings.LLM_TIMEOUT_SECONDS,
        )
        sections, cited = draft_note_read(content, segment_ids={s.pk for s in segments})
    except (OpenAIError, DraftAnswerError) as error:
        logger.warning("draft note %s failed: %s", draft.pk, error)
        draft.status, draft.failure = DraftNote.Status.FAILED, str(error)
    else:
        draft.status, draft.sections, draft.cited_segments = DraftNote.Status.READY, sections, cited
    draft.finished_at = timezone.now()
    draft.save(update_fields=["status", "failure", "sections", "cited_segments", "finished_at"])
    _tell_the_room(draft)
    return draft


def draft_note_frame(draft: DraftNote) -> dict:
    """A draft note as the API and the room's draft_note.ready show it (docs/transcripts.md)."""
    return {
        "id": draft.pk,
        "status": draft.status,
        "sections": {name: draft.sections.get(name, "") for name in SECTIONS},
        "cited_segments": {name: draft.cited_segments.get(name, []) for name in SECTIONS},
        "model": draft.model,
        "failure": draft.failure,
        "requested_at": draft.requested_at.isoformat(),
        "finished_at": draft.finished_at.isoformat() if draft.finished_at else None,
    }


def _tell_the_room(draft: DraftNote) -> None:
    # Best effort: with the in-memory layer the worker's process reaches no socket, and the
    # page polls the draft (static/js/room/transcript/draft-note.js) for exactly that case.
    event = {"type": "room.draft_note", "draft_note": draft_note_frame(draft)}
    try:
        async_to_sync(get_channel_layer().group_send)(
            room_group(draft.appointment.room_id.hex), event
        )
    except Exception:
        logger.warning("could not tell room of draft note %s", draft.pk, exc_info=True)
