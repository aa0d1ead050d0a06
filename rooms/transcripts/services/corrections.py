"""The doctor's corrections of what the engine heard: the correction is kept beside the
original (`text` is never changed), with who made it and when."""

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError
from rooms.transcripts.models import TranscriptSegment
from rooms.transcripts.selectors import transcript_segment_get
from visits.models import AccessLogEntry, User
from visits.selectors import Capability
from visits.services import record_access

MAX_CORRECTION_CHARS = 4000


def segment_correct(
    *, user: User, segment_id: int, corrected_text: str, address: str = ""
) -> TranscriptSegment:
    """Set the segment's correction (an empty one takes the correction back: the segment reads
    as heard again). The appointment's doctor only; anyone else is told there is no such
    segment, or (its patient, staff) that they may not."""
    text = corrected_text.strip()
    if len(text) > MAX_CORRECTION_CHARS:
        raise ApplicationError(f"A correction is at most {MAX_CORRECTION_CHARS} characters.")
    with transaction.atomic():
        segment = transcript_segment_get(
            user=user, segment_id=segment_id, capability=Capability.CORRECT_TRANSCRIPT
        )
        segment = TranscriptSegment.objects.select_for_update().get(pk=segment.pk)
        segment.corrected_text = text
        segment.corrected_by = user if text else None
        segment.corrected_at = timezone.now() if text else None
        segment.save(update_fields=["corrected_text", "corrected_by", "corrected_at"])
        record_access(
            viewer=user,
            what=AccessLogEntry.What.TRANSCRIPT,
            action=AccessLogEntry.Action.UPDATE,
            channel=AccessLogEntry.Channel.API,
            appointment=segment.appointment,
            record=f"segment {segment.pk}",
            address=address,
        )
    return segment
