"""Recordings in the back office: read-only, as the rest of the visit's record is. Clinic
staff see every recording (with its consents) and may delete one's media, saying why; nobody
adds or edits one. Every list and recording shown is in the access log."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from clinic.errors import ApplicationError
from rooms.consent.admin import CaptureConsentInline, is_clinic_staff
from rooms.recordings.models import Recording, RecordingConsent
from rooms.recordings.services.deletion import DELETE_REASON_MAX_LENGTH, recording_delete
from visits.admin import ReadOnlyAdmin
from visits.admin_audit import AccessAuditedAdmin
from visits.models import AccessLogEntry
from visits.services import request_address


class RecordingConsentInline(CaptureConsentInline):
    model = RecordingConsent


class RecordingDeleteForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=DELETE_REASON_MAX_LENGTH,
        help_text="Kept in the access log with the deletion.",
    )


@admin.register(Recording)
class RecordingAdmin(AccessAuditedAdmin, ReadOnlyAdmin):
    audit_what = AccessLogEntry.What.RECORDING
    actions = ["delete_recordings"]
    inlines = [RecordingConsentInline]
    list_display = (
        "requested_at",
        "appointment",
        "status",
        "duration_seconds",
        "size_bytes",
        "stop_reason",
    )
    list_filter = ("status", ("requested_at", admin.DateFieldListFilter))
    search_fields = (
        "appointment__patient__medical_record_number",
        "appointment__patient__user__last_name",
        "appointment__doctor__display_name",
    )
    list_select_related = ("appointment__patient__user", "appointment__doctor")
    date_hierarchy = "requested_at"
    fieldsets = (
        (None, {"fields": ("appointment", "requested_by", "status", "requested_at", "playback")}),
        (
            "Recorded",
            {
                "fields": (
                    "started_at",
                    "ended_at",
                    "stop_reason",
                    "stopped_by",
                    "seconds_on_before",
                )
            },
        ),
        (
            "File",
            {"fields": ("media_type", "duration_seconds", "size_bytes", "sha256", "failure")},
        ),
        ("Deleted", {"fields": ("deleted_at", "deleted_by", "deleted_reason")}),
    )
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    @admin.display(description="Play")
    def playback(self, obj: Recording) -> str:
        """The portal's page of the visit's recordings, where it plays (and each play is
        logged); the admin itself never streams media."""
        if obj.status != Recording.Status.READY:
            return "-"
        url = reverse("recordings:visit-recordings", args=[obj.appointment_id])
        return format_html('<a href="{}#recording-{}">Play in the portal</a>', url, obj.pk)

    def audit_subject(self, obj: Recording):
        return obj.appointment.patient, obj.appointment

    def has_module_permission(self, request) -> bool:
        return is_clinic_staff(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_clinic_staff(request)

    def has_delete_recording_permission(self, request) -> bool:
        return is_clinic_staff(request)

    @admin.action(description="Delete recording…", permissions=["delete_recording"])
    def delete_recordings(self, request, queryset):
        """First the page asking why; then each recording's media deleted by the service."""
        recordings = list(queryset.select_related("appointment__patient__user"))
        form = RecordingDeleteForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "recordings/admin_delete.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Delete recordings",
                    "opts": self.opts,
                    "recordings": recordings,
                    "form": form,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        deleted = 0
        for recording in recordings:
            try:
                recording_delete(
                    user=request.user,
                    recording_id=recording.pk,
                    reason=form.cleaned_data["reason"],
                    channel=AccessLogEntry.Channel.ADMIN,
                    address=request_address(request),
                )
            except ApplicationError as refusal:
                self.message_user(request, f"{recording}: {refusal.message}", messages.ERROR)
                continue
            deleted += 1
        if deleted:
            noun = "recording" if deleted == 1 else "recordings"
            self.message_user(request, f"{deleted} {noun} deleted.", messages.SUCCESS)
        return None
