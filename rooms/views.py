from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django_permissions_policy.decorators import permissions_policy_override

from clinic.errors import NotFoundError, NotSignedInError
from rooms.protocol import page_constants
from rooms.selectors import room_role_get
from rooms.transcripts.selectors import previous_transcripts_get
from rooms.transcripts.services.draft_notes import draft_notes_available
from visits import selectors, services
from visits.models import AccessLogEntry, AppointmentStatus, Role
from visits.selectors import room_join_window


# The one page that may use the camera, the microphone and screen capture (Permissions-Policy).
@permissions_policy_override(settings.ROOM_PERMISSIONS_POLICY)
@login_required
def room(request: HttpRequest, room_id) -> HttpResponse:
    try:
        appointment, role = room_role_get(user=request.user, room_id=room_id)
    except NotSignedInError:
        return redirect_to_login(request.get_full_path())
    except NotFoundError as error:
        # Not yours reads as 404 too: a room address must not confirm that a visit exists.
        raise Http404("No such visit room.") from error
    window = room_join_window(appointment=appointment, now=timezone.now())
    is_doctor = role == Role.DOCTOR
    context = {"appointment": appointment, "window": window, "is_doctor": is_doctor}
    if window.is_open:
        context["room_config"] = _room_config(request, appointment, is_doctor)
    if is_doctor and window.is_open:
        patient = selectors.patient_chart_get(user=request.user, patient_id=appointment.patient_id)
        # One entry for the sidebar as a whole: the chart, earlier visits' notes, this note.
        services.record_access(
            viewer=request.user,
            patient=patient,
            appointment=appointment,
            what=AccessLogEntry.What.CHART,
            action=AccessLogEntry.Action.VIEW,
            channel=AccessLogEntry.Channel.VISIT_ROOM,
            address=services.request_address(request),
        )
        previous_visits = list(
            selectors.patient_previous_visits(patient=patient, before=appointment.start)
        )
        transcripts = previous_transcripts_get(user=request.user, visits=previous_visits)
        for visit in previous_visits:
            visit.sidebar_transcript = transcripts.get(visit.pk, [])
            if visit.sidebar_transcript:  # its words are in the page: a read of them
                services.record_access(
                    viewer=request.user,
                    appointment=visit,
                    what=AccessLogEntry.What.TRANSCRIPT,
                    action=AccessLogEntry.Action.VIEW,
                    channel=AccessLogEntry.Channel.VISIT_ROOM,
                    address=services.request_address(request),
                    record=f"{len(visit.sidebar_transcript)} segments, in the sidebar",
                )
        note = selectors.visit_note_for(appointment=appointment)
        context |= {
            "chart": patient,
            "previous_visits": previous_visits,
            "note": note,
            "note_addenda": selectors.visit_note_addenda(note=note),
        }
    return render(request, "rooms/room.html", context)


def _transcript_config(appointment, room_id: str) -> dict:
    """The doctor's transcript panel: where its parts live; the draft note only when the clinic
    configured a language model (no LLM: no "Draft note" button)."""
    draft_note_url = None
    if draft_notes_available():
        draft_note_url = reverse("transcripts-api:appointment-draft-note", args=[appointment.pk])
    return {
        "url": reverse("transcripts-api:appointment-transcript", args=[appointment.pk]),
        "segmentUrl": reverse("transcripts-api:transcript-segment", args=[0]).replace(
            "/0/", "/{id}/"
        ),
        "audioSocketPath": f"/ws/rooms/{room_id}/audio/",
        "draftNoteUrl": draft_note_url,
    }


def _room_config(request: HttpRequest, appointment, is_doctor: bool) -> dict:
    """What the page's scripts need; nothing secret (the Calls secret stays server-side)."""
    room_id = str(appointment.room_id)
    return {
        "roomId": room_id,
        "socketPath": f"/ws/rooms/{room_id}/",
        "role": Role.DOCTOR.value if is_doctor else Role.PATIENT.value,
        "displayName": request.user.display_name,
        "appointmentId": appointment.pk,
        "homeUrl": reverse("portal:home"),
        "iceServersUrl": reverse("rooms-api:ice-servers", kwargs={"room_id": room_id}),
        "callsUrl": f"/api/rooms/{room_id}/calls/" if settings.CALLS_APP_ID else None,
        "notesUrl": reverse("api:appointment-notes", args=[appointment.pk]) if is_doctor else None,
        "noteSignUrl": (
            reverse("api:appointment-note-sign", args=[appointment.pk]) if is_doctor else None
        ),
        "noteAddendaUrl": (
            reverse("api:appointment-note-addenda", args=[appointment.pk]) if is_doctor else None
        ),
        "transcript": _transcript_config(appointment, room_id) if is_doctor else None,
        # Labels for the status badge, which the page updates as the visit starts and ends.
        "statusLabels": {
            status: str(AppointmentStatus(status).label)
            for status in (AppointmentStatus.IN_PROGRESS, AppointmentStatus.COMPLETED)
        },
        "media": {
            "maxBitrate": settings.MAX_WEBCAM_BITRATE,
            "maxFramerate": settings.MAX_WEBCAM_FRAMERATE,
            "maxHeight": settings.MAX_WEBCAM_QUALITY_LEVEL,
        },
        # End-to-end encryption: the clinic's mode, and the code the page loads only when on.
        "e2ee": {
            "mode": settings.E2EE,
            "bundleUrl": static("js/room/e2ee/mls.bundle.js"),
            "workerUrl": static("js/room/e2ee/transform-worker.js"),
        },
        # Close codes and frame types, from their one definition (the page repeats none).
        "protocol": page_constants(),
    }
