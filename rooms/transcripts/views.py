"""The portal's page of one visit's transcript: who said what when, the doctor's corrections
beside what was heard, and the text and WebVTT exports. Its patient reads it once the visit is
over; its doctor and clinic staff at any time (the selectors' rule). And the doctor's
"Transcribe" on the recordings page: a recording transcribed after the visit."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clinic.errors import ApplicationError, NotFoundError, NotSignedInError, PermissionDeniedError
from rooms.transcripts import selectors
from rooms.transcripts.exports import offset_label
from rooms.transcripts.services.recording import recording_transcription_request
from visits.models import AccessLogEntry
from visits.services import record_access, request_address


@login_required
def visit_transcript(request: HttpRequest, appointment_id: int) -> HttpResponse:
    try:
        transcript = selectors.transcript_get(user=request.user, appointment_id=appointment_id)
    except NotSignedInError:
        return redirect_to_login(request.get_full_path())
    except NotFoundError as error:
        raise Http404("No such visit.") from error  # not yours reads as none: confirms nothing
    except PermissionDeniedError as error:
        raise PermissionDenied(str(error)) from error
    segments = list(transcript.segments)
    record_access(
        viewer=request.user,
        what=AccessLogEntry.What.TRANSCRIPT,
        action=AccessLogEntry.Action.VIEW,
        channel=AccessLogEntry.Channel.PORTAL,
        address=request_address(request),
        appointment=transcript.appointment,
        record=f"{len(segments)} segments",
    )
    return render(
        request,
        "transcripts/visit_transcript.html",
        {
            "appointment": transcript.appointment,
            "status": transcript.status,
            "rows": [(segment, offset_label(segment.start_ms)) for segment in segments],
        },
    )


@login_required
@require_POST
def recording_transcribe(request: HttpRequest, appointment_id: int, recording_id) -> HttpResponse:
    """The doctor's "Transcribe" on the visit's recordings page; back to it, saying what came
    of it (the rules and their refusals: rooms.transcripts.services.recording)."""
    try:
        recording_transcription_request(user=request.user, recording_id=recording_id)
    except NotFoundError as error:
        raise Http404("No such recording.") from error
    except ApplicationError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            "The recording is being transcribed; its words will be on the visit's transcript.",
        )
    return redirect("recordings:visit-recordings", appointment_id=appointment_id)
