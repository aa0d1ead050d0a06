from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenRefreshView

from visits.apis import appointments, auth, doctors, patients

urlpatterns = [
    path("auth/token/", auth.TokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
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
    path("patients/<int:patient_id>/", patients.PatientChartApi.as_view(), name="patient-chart"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
