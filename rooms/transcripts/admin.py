"""Transcriptions in the back office: read-only, as the rest of the visit's record is. Clinic
staff see each transcription (its source, engine, status, why it failed) with its consents;
the words themselves are read on the portal's transcript page, where each view is logged.
Every list and transcription shown is in the access log."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from rooms.consent.admin import CaptureConsentInline, is_clinic_staff
from rooms.transcripts.models import Transcription, TranscriptionConsent
from visits.admin import ReadOnlyAdmin
from visits.admin_audit import AccessAuditedAdmin
from visits.models import AccessLogEntry


class TranscriptionConsentInline(CaptureConsentInline):
    model = TranscriptionConsent


@admin.register(Transcription)
class TranscriptionAdmin(AccessAuditedAdmin, ReadOnlyAdmin):
    audit_what = AccessLogEntry.What.TRANSCRIPT
    inlines = [TranscriptionConsentInline]
    list_display = ("requested_at", "appointment", "source", "status", "engine", "stop_reason")
    list_filter = ("status", "source", "engine", ("requested_at", admin.DateFieldListFilter))
    search_fields = (
        "appointment__patient__medical_record_number",
        "appointment__patient__user__last_name",
        "appointment__doctor__display_name",
    )
    list_select_related = ("appointment__patient__user", "appointment__doctor")
    date_hierarchy = "requested_at"
    fields = (
        "appointment",
        "source",
        "recording",
        "engine",
        "status",
        "requested_by",
        "requested_at",
        "started_at",
        "ended_at",
        "stop_reason",
        "stopped_by",
        "failure",
        "transcript",
    )
    readonly_fields = fields

    @admin.display(description="Transcript")
    def transcript(self, obj: Transcription) -> str:
        url = reverse("transcripts:visit-transcript", args=[obj.appointment_id])
        return format_html('<a href="{}">Read in the portal</a>', url)

    def audit_subject(self, obj: Transcription):
        return obj.appointment.patient, obj.appointment

    def has_module_permission(self, request) -> bool:
        return is_clinic_staff(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_clinic_staff(request)
