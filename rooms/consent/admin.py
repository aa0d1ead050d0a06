"""What every capture's admin shares (rooms.recordings.admin, rooms.transcripts.admin): who may
see captures in the back office, and the read-only list of a capture's consent decisions."""

from visits.admin import ReadOnlyInline


def is_clinic_staff(request) -> bool:
    # Captures are not in the clinic staff group's model permissions (the `visits` app's): the
    # access rule decides. Clinic staff (and superusers) see them.
    return request.user.is_active and request.user.is_clinic_staff


class CaptureConsentInline(ReadOnlyInline):
    """A capture's consent decisions, oldest first; concrete inlines set `model`."""

    fields = ("at", "user", "role", "decision")
    readonly_fields = fields
    ordering = ("at", "pk")

    def has_view_permission(self, request, obj=None) -> bool:
        return is_clinic_staff(request)
