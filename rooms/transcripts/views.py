"""The portal's page of one visit's transcript: who said what when, the doctor's corrections
beside what was heard, and the text and WebVTT exports. Its patient reads it once the visit is
over; its doctor and clinic staff at any time (the selectors' rule)."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.errors import NotFoundError, NotSignedInError, PermissionDeniedError
from rooms.transcripts import selectors
from rooms.transcripts.exports import offset_label
from visits.models import AccessLogEntry
from visits.services import record_access


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
