"""The portal's page of one visit's recordings: each ready one plays in the page (its <video>
streams from the media API, which the portal's session signs in to) and can be downloaded."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.errors import NotFoundError, NotSignedInError
from rooms.recordings import selectors
from visits import selectors as visit_selectors
from visits.models import AccessLogEntry
from visits.selectors import Capability
from visits.services import record_access, request_address


@login_required
def visit_recordings(request: HttpRequest, appointment_id: int) -> HttpResponse:
    try:
        appointment = visit_selectors.appointment_get(
            user=request.user,
            appointment_id=appointment_id,
            capability=Capability.VIEW_RECORDINGS,
        )
    except NotSignedInError:
        return redirect_to_login(request.get_full_path())
    except NotFoundError as error:
        # Not yours reads as 404 too: the address confirms nothing.
        raise Http404("No such visit.") from error
    recordings = list(selectors.recording_list(user=request.user, appointment=appointment))
    record_access(
        viewer=request.user,
        what=AccessLogEntry.What.RECORDING,
        action=AccessLogEntry.Action.LIST,
        channel=AccessLogEntry.Channel.PORTAL,
        address=request_address(request),
        appointment=appointment,
    )
    return render(
        request,
        "recordings/visit_recordings.html",
        {
            "appointment": appointment,
            "recordings": recordings,
            "is_doctor": request.user.pk == appointment.doctor.user_id,
        },
    )
