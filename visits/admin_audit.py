"""Admin pages that show health data log every look in the access log.

The access log's own admin exports what its filters select as CSV (`AccessLogExportAdmin`).

A model admin mixes in `AccessAuditedAdmin`, names what it shows (`audit_what`) and, for its
change page, whose record an object is (`audit_subject`). A list page is one entry naming the
model; a change page is one entry per object shown (and one per object added, changed or
deleted).
"""

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

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

    def response_add(self, request, obj, post_url_continue=None):
        self._audit(request, Action.CREATE, obj)
        return super().response_add(request, obj, post_url_continue)

    # Logged before the row goes (it names it), in the delete's transaction where there is one.
    def delete_model(self, request, obj):
        self._audit(request, Action.DELETE, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._audit(request, Action.DELETE, obj)
        super().delete_queryset(request, queryset)


# The access log's CSV export: the changelist's filters and search, in chain (id) order, read in
# batches by id so a log of millions streams in bounded memory.
EXPORT_BATCH = 2000
EXPORT_COLUMNS = (
    ("id", "pk"),
    ("accessed_at", "accessed_at"),
    ("viewer_id", "viewer_id"),
    ("viewer", "viewer__username"),
    ("viewer_role", "viewer_role"),
    ("username_given", "username"),
    ("what", "what"),
    ("action", "action"),
    ("channel", "channel"),
    ("patient_id", "patient_id"),
    ("patient_mrn", "patient__medical_record_number"),
    ("appointment_id", "appointment_id"),
    ("record", "record"),
    ("reason", "reason"),
    ("address", "address"),
    ("prev_hash", "prev_hash"),
    ("entry_hash", "entry_hash"),
)
# A spreadsheet runs a cell that starts like a formula: free text (a reason, a typed username)
# is kept from doing so.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_line(cells) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue().encode()


def access_log_csv_batch(queryset, *, after_pk: int) -> tuple[bytes, int | None]:
    """The CSV lines of the next EXPORT_BATCH entries after `after_pk`, and the last id in
    them (None once there are no more)."""
    rows = list(
        queryset.order_by("pk")
        .filter(pk__gt=after_pk)
        .values_list(*(field for _, field in EXPORT_COLUMNS))[:EXPORT_BATCH]
    )
    if not rows:
        return b"", None
    return b"".join(_csv_line(_csv_cell(value) for value in row) for row in rows), rows[-1][0]


def access_log_csv(queryset) -> Iterator[bytes]:
    yield _csv_line(name for name, _ in EXPORT_COLUMNS)
    after_pk = 0
    while True:
        lines, after_pk = access_log_csv_batch(queryset, after_pk=after_pk)
        if after_pk is None:
            return
        yield lines


async def access_log_csv_async(queryset) -> AsyncIterator[bytes]:
    # Under ASGI (Daphne) each batch is read in the request's sync thread, off the event loop.
    yield _csv_line(name for name, _ in EXPORT_COLUMNS)
    step = sync_to_async(access_log_csv_batch)
    after_pk = 0
    while True:
        lines, after_pk = await step(queryset, after_pk=after_pk)
        if after_pk is None:
            return
        yield lines


class AccessLogExportAdmin(admin.ModelAdmin):
    """The access log's changelist gets an "Export CSV" button (its change_list template) for
    the entries its filters and search select. An export is itself logged."""

    change_list_template = "admin/visits/accesslogentry/change_list.html"

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        record_access(
            viewer=request.user,
            what=AccessLogEntry.What.ACCESS_LOG,
            action=Action.EXPORT,
            channel=Channel.ADMIN,
            record=self.opts.label_lower,
            reason=f"CSV export, filters: {request.GET.urlencode() or 'none'}",
            address=request_address(request),
        )
        rows = (
            access_log_csv_async(queryset)
            if isinstance(request, ASGIRequest)
            else access_log_csv(queryset)
        )
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="access-log-{stamp}.csv"'
        return response
