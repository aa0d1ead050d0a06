from django.contrib import admin

from rooms.models import ChatMessage, VisitEncryption
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


@admin.register(VisitEncryption)
class VisitEncryptionAdmin(ReadOnlyAdmin):
    """Which visits their doctor put under end-to-end encryption, by whom and when (E2EE=optional;
    under "required" every visit is). Read-only: it is a fact about the visit, not a setting."""

    list_display = ("turned_on_at", "appointment", "turned_on_by")
    list_filter = (("turned_on_at", admin.DateFieldListFilter),)
    list_select_related = ("appointment__patient__user", "appointment__doctor", "turned_on_by")
    readonly_fields = ("appointment", "turned_on_by", "turned_on_at")
