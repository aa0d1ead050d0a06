from django.contrib import admin

from rooms.models import ChatMessage
from visits.admin import ReadOnlyAdmin
from visits.admin_audit import AccessAuditedAdmin
from visits.models import AccessLogEntry


@admin.register(ChatMessage)
class ChatMessageAdmin(AccessAuditedAdmin, ReadOnlyAdmin):
    """Read-only, as visit notes are: the chat is part of the visit's record, and nobody,
    superusers included, adds, edits or deletes a message after the fact. Every list and
    message shown is logged in the access log."""

    audit_what = AccessLogEntry.What.CHAT
    list_display = ("created_at", "appointment", "sender", "text")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("text", "appointment__patient__medical_record_number", "sender__username")
    list_select_related = ("appointment__patient__user", "appointment__doctor", "sender")
    readonly_fields = ("appointment", "sender", "text", "created_at")
    date_hierarchy = "created_at"

    def audit_subject(self, obj: ChatMessage):
        return obj.appointment.patient, obj.appointment
