"""The patient's right of access: their whole record from the portal, as a FHIR R4 file to
download and as a page to read and print. Every one is in the access log."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from visits import fhir, selectors, services
from visits.models import AccessLogEntry


def _own_patient_id(request: HttpRequest) -> int:
    """The signed-in patient's own record; the portal offers nobody else's (staff and doctors
    export through the API)."""
    user = request.user
    if not (user.is_patient and hasattr(user, "patient")):
        raise Http404("Only patients download their record here.")
    return user.patient.pk


@login_required
def record_download(request: HttpRequest) -> HttpResponse:
    bundle = services.patient_record_export(
        user=request.user,
        patient_id=_own_patient_id(request),
        channel=AccessLogEntry.Channel.PORTAL,
    )
    response = HttpResponse(fhir.bundle_json(bundle), content_type=fhir.FHIR_JSON)
    mrn = request.user.patient.medical_record_number
    response["Content-Disposition"] = f'attachment; filename="health-record-{mrn}.fhir.json"'
    return response


@login_required
def record_print(request: HttpRequest) -> HttpResponse:
    record = selectors.patient_record_get(user=request.user, patient_id=_own_patient_id(request))
    services.record_access(
        viewer=request.user,
        patient=record.patient,
        what=AccessLogEntry.What.HEALTH_RECORD,
        action=AccessLogEntry.Action.EXPORT,
        channel=AccessLogEntry.Channel.PORTAL,
        record="print view (HTML)",
    )
    visits = [
        (appointment, record.signed_notes.get(appointment.pk))
        for appointment in record.appointments
    ]
    return render(
        request,
        "portal/record_print.html",
        {
            "patient": record.patient,
            "doctors": record.doctors,
            "visits": visits,
        },
    )
