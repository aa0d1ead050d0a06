import re

from django.http import JsonResponse
from django.urls import path, register_converter
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from visits.apis import appointments, auth, doctors, notes, patients


def unknown_resources_route(converter: str, *resources: str):
    """The route of the JSON 404 for anything below `resources` (e.g. `appointments/abc`) that
    no route before it took; put it last. Scoped to them, so that it never shadows another
    app's routes under /api/ (each app adds its own for its own resources)."""

    class UnknownResourcePath:
        # [\s\S], not ".": a path may hold a newline (%0A), and "." stops at one.
        regex = rf"(?:{'|'.join(re.escape(resource) for resource in resources)})/[\s\S]+"

        def to_python(self, value: str) -> str:
            return value

        def to_url(self, value: str) -> str:
            return value

    register_converter(UnknownResourcePath, converter)
    return path(f"<{converter}:unknown>/", api_not_found, name=f"{converter}-not-found")


@csrf_exempt
def api_not_found(request, unknown: str) -> JsonResponse:
    """The JSON 404 the schema promises (e.g. for /api/appointments/abc/), not Django's HTML
    page. Addresses without the final slash are still redirected to it first (APPEND_SLASH)."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("auth/token/", auth.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", auth.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/logout/", auth.LogoutApi.as_view(), name="logout"),
    path("me/", auth.MeApi.as_view(), name="me"),
    path("doctors/", doctors.DoctorListApi.as_view(), name="doctor-list"),
    path("doctors/<int:doctor_id>/slots/", doctors.DoctorSlotsApi.as_view(), name="doctor-slots"),
    path(
        "appointments/",
        appointments.AppointmentListCreateApi.as_view(),
        name="appointment-list",
    ),
    path(
        "appointments/<int:appointment_id>/",
        appointments.AppointmentDetailApi.as_view(),
        name="appointment-detail",
    ),
    path(
        "appointments/<int:appointment_id>/cancel/",
        appointments.AppointmentCancelApi.as_view(),
        name="appointment-cancel",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        appointments.AppointmentRescheduleApi.as_view(),
        name="appointment-reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/confirm/",
        appointments.AppointmentConfirmApi.as_view(),
        name="appointment-confirm",
    ),
    path(
        "appointments/<int:appointment_id>/complete/",
        appointments.AppointmentCompleteApi.as_view(),
        name="appointment-complete",
    ),
    path(
        "appointments/<int:appointment_id>/no-show/",
        appointments.AppointmentNoShowApi.as_view(),
        name="appointment-no-show",
    ),
    path(
        "appointments/<int:appointment_id>/notes/",
        notes.VisitNoteApi.as_view(),
        name="appointment-notes",
    ),
    path(
        "appointments/<int:appointment_id>/notes/versions/",
        notes.VisitNoteVersionsApi.as_view(),
        name="appointment-note-versions",
    ),
    path(
        "appointments/<int:appointment_id>/notes/sign/",
        notes.VisitNoteSignApi.as_view(),
        name="appointment-note-sign",
    ),
    path(
        "appointments/<int:appointment_id>/notes/addenda/",
        notes.VisitNoteAddendumApi.as_view(),
        name="appointment-note-addenda",
    ),
    path("patients/<int:patient_id>/", patients.PatientChartApi.as_view(), name="patient-chart"),
    path(
        "patients/<int:patient_id>/export/",
        patients.PatientRecordExportApi.as_view(),
        name="patient-record-export",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its script from /api/docs/?script rather than inline: the site's CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    unknown_resources_route("unknown_resource", "appointments", "doctors", "patients"),  # last
]
