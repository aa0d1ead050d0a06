"""Admin pages that show health data log every look in the access log.

A model admin mixes in `AccessAuditedAdmin`, names what it shows (`audit_what`) and, for its
change page, whose record an object is (`audit_subject`). A list page is one entry naming the
model; a change page is one entry per object shown (and one per change saved).
"""

from django.contrib import admin
from django.http import HttpRequest

from visits.models import AccessLogEntry, Appointment, Patient
from visits.services import record_access, request_address

Action, Channel = AccessLogEntry.Action, AccessLogEntry.Channel


class AccessAuditedAdmin(admin.ModelAdmin):
    audit_what: str = ""  # an AccessLogEntry.What

    def audit_subject(self, obj) -> tuple[Patient | None, Appointment | None]:
        """Whose record `obj` is: the patient and, when there is one, the appointment."""
        raise NotImplementedError

    def _audit(self, request: HttpRequest, action: str, obj=None) -> None:
        patient, appointment = self.audit_subject(obj) if obj is not None else (None, None)
        label = self.opts.label_lower
        record_access(
            viewer=request.user,
            what=self.audit_what,
            action=action,
            channel=Channel.ADMIN,
            address=request_address(request),
            patient=patient,
            appointment=appointment,
            record=label if obj is None else f"{label} {obj.pk}",
        )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:  # a list was shown (not a redirect or a refusal)
            self._audit(request, Action.LIST)
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Every change page shown of an existing object, read-only or not, comes through here.
        if obj is not None and not add:
            self._audit(request, Action.VIEW, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_change(self, request, obj):
        self._audit(request, Action.UPDATE, obj)
        return super().response_change(request, obj)
