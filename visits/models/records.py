import hashlib
import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from visits.models.appointments import Appointment
from visits.models.patients import Patient
from visits.models.users import Role


class VisitNote(models.Model):
    """The doctor's SOAP note for one visit. `version` grows with every save, so a stale editor
    (a second tab, a replayed offline save) is told instead of silently overwriting. Every save
    is kept as a `VisitNoteVersion`; once the visit is completed the note is closed and later
    changes are `VisitNoteAddendum`s."""

    appointment = models.OneToOneField(Appointment, on_delete=models.CASCADE, related_name="note")
    subjective = models.TextField(blank=True, max_length=20_000)
    objective = models.TextField(blank=True, max_length=20_000)
    assessment = models.TextField(blank=True, max_length=20_000)
    plan = models.TextField(blank=True, max_length=20_000)
    version = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_hash = models.CharField(
        "SHA-256 of the signed text", max_length=64, blank=True, editable=False
    )

    SECTIONS = ("subjective", "objective", "assessment", "plan")

    def __str__(self) -> str:
        return f"Note for {self.appointment}"

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, section).strip() for section in self.SECTIONS)

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    def content_hash(self) -> str:
        """SHA-256 (hex) of the note's text as it is now: its four sections as canonical JSON
        (the same text always gives the same hash, on any database)."""
        return sha256_of_text(
            json.dumps(
                {section: getattr(self, section) for section in self.SECTIONS},
                ensure_ascii=False,
                separators=(",", ":"),
                sort_keys=True,
            )
        )

    @property
    def signer_name(self) -> str:
        """Who signed, as the clinic names them: a doctor by their doctor's name ("Dr. ...")."""
        if not self.is_signed:
            return ""
        doctor = getattr(self.signed_by, "doctor", None)
        return doctor.display_name if doctor is not None else self.signed_by.display_name

    @property
    def signature_intact(self) -> bool | None:
        """Whether the text is still the one signed; None for a note not signed."""
        if not self.is_signed:
            return None
        return self.content_hash() == self.signed_hash


def sha256_of_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ImmutableRecord(models.Model):
    """A row written once and never changed: part of the medical record's history."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"A {self._meta.verbose_name} cannot be changed once written.")
        super().save(*args, **kwargs)


class VisitNoteVersion(ImmutableRecord):
    """The note as one save left it: version N is the text after the N-th save."""

    note = models.ForeignKey(VisitNote, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subjective = models.TextField(blank=True, max_length=20_000)
    objective = models.TextField(blank=True, max_length=20_000)
    assessment = models.TextField(blank=True, max_length=20_000)
    plan = models.TextField(blank=True, max_length=20_000)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    saved_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["note", "version"]
        constraints = [
            models.UniqueConstraint(fields=["note", "version"], name="visit_note_version_unique")
        ]

    def __str__(self) -> str:
        return f"Version {self.version} of {self.note}"


class VisitNoteAddendum(ImmutableRecord):
    """A dated addition to a closed note (the visit is completed, or the note signed), signed
    by its author, the visit's doctor: who, when, and the SHA-256 of its text."""

    note = models.ForeignKey(VisitNote, on_delete=models.CASCADE, related_name="addenda")
    text = models.TextField(max_length=20_000)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    text_hash = models.CharField("SHA-256 of the text", max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "visit note addenda"

    def __str__(self) -> str:
        return f"Addendum to {self.note} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self._state.adding:
            self.text_hash = sha256_of_text(self.text)
        super().save(*args, **kwargs)


class ChainHashField(models.CharField):
    """A hash the database computes while inserting the row (visits.services.access_log), read
    back by the insert itself (RETURNING) instead of by another query."""

    db_returning = True


class AccessLogQuerySet(models.QuerySet):
    def health_data(self):
        """The reads and writes of health data, without the security events."""
        return self.exclude(what=AccessLogEntry.What.ACCOUNT)

    def security_events(self):
        return self.filter(what=AccessLogEntry.What.ACCOUNT)


class AccessLogEntry(models.Model):
    """One read or write of health data, or one security event (a sign-in, a failed one, a
    lockout, a refusal, an MFA step): who (and as what), whose, what, how, through what, from
    where and when. The clinic's one audit trail: append-only, written only through
    `visits.services.access_log`, and hash-chained (`prev_hash`, `entry_hash`) so that an edited,
    deleted or reordered row is found by `manage.py verify_audit_log` (docs/audit.md).

    An entry without a viewer is the system's own doing (`viewer_role` "system"), such as a
    recording deleted when its retention ran out, or a sign-in attempt by nobody known."""

    class Channel(models.TextChoices):
        VISIT_ROOM = "visit_room", "Visit room sidebar"
        API = "api", "REST API"
        ADMIN = "admin", "Admin"
        PORTAL = "portal", "Portal"
        SYSTEM = "system", "The system (background work)"

    class What(models.TextChoices):
        CHART = "chart", "Chart"
        APPOINTMENT = "appointment", "Appointment"
        NOTE = "note", "Visit note"
        NOTE_HISTORY = "note_history", "Visit note history"
        CHAT = "chat", "Chat"
        RECORDING = "recording", "Recording"
        TRANSCRIPT = "transcript", "Transcript"
        DRAFT_NOTE = "draft_note", "Draft note (AI)"
        HEALTH_RECORD = "health_record", "Whole health record"
        ACCESS_LOG = "access_log", "Access log"
        ACCOUNT = "account", "Account (security event)"

    class Action(models.TextChoices):
        VIEW = "view", "View"
        LIST = "list", "List"
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        ADDENDUM = "addendum", "Addendum"
        SIGN = "sign", "Sign"
        EXPORT = "export", "Export"
        PLAY = "play", "Play"
        DOWNLOAD = "download", "Download"
        DELETE = "delete", "Delete"
        EXPIRE = "expire", "Expire"  # deleted by the system when its retention ran out

    class Event(models.TextChoices):
        """Security events: the action of an entry whose `what` is ACCOUNT."""

        SIGNED_IN = "signed_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        LOCKED_OUT = "locked_out", "Locked out"
        SIGNED_OUT = "signed_out", "Signed out"
        REFUSED = "refused", "Permission refused"
        MFA_ENROLLED = "mfa_enrolled", "MFA enrolled"
        MFA_VERIFIED = "mfa_verified", "MFA verified"
        MFA_FAILED = "mfa_failed", "MFA failed"
        MFA_RECOVERY_CODE_USED = "mfa_recovery_code_used", "MFA recovery code used"
        MFA_RECOVERY_CODES_RENEWED = "mfa_recovery_codes_renewed", "MFA recovery codes renewed"
        MFA_RESET = "mfa_reset", "MFA reset"

    SUPERUSER = "superuser"
    SYSTEM = "system"
    VIEWER_ROLES = [*Role.choices, (SUPERUSER, "Superuser"), (SYSTEM, "System")]

    # None for the system's own doing (viewer_role SYSTEM): nobody asked, or nobody known.
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_log_entries",
    )
    # The role at the time of access (a role can change later).
    viewer_role = models.CharField(max_length=16, choices=VIEWER_ROLES)
    # Null for a list of many patients' records (an admin changelist).
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_log_entries",
    )
    # The log keeps the number of an appointment deleted later: nulling it would change a
    # chained row (and the chain would then report it as tampered with).
    appointment = models.ForeignKey(
        Appointment,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    what = models.CharField(max_length=16, choices=What.choices)
    action = models.CharField(max_length=32, choices=Action.choices + Event.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # Which record, when the entry is about one the fields above do not name (e.g.
    # "rooms.chatmessage 42"), or the model an admin list showed.
    record = models.CharField(max_length=100, blank=True)
    # Why, when the action needs one (a recording's deletion).
    reason = models.TextField(blank=True)
    # Set in Python, not by the database, since it is part of the hashed row.
    accessed_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The client's address (NUM_PROXIES-aware, as the lockout and throttles see it); blank for
    # the system's own doing.
    address = models.GenericIPAddressField(null=True, blank=True)
    # The username a sign-in attempt gave, whether or not such an account exists.
    username = models.CharField(max_length=150, blank=True)
    # The chain: this row's hash covers its fields and the previous row's hash ("" for the
    # first row), so an edit, deletion or reordering breaks it (visits.services.access_log).
    prev_hash = ChainHashField(max_length=64, blank=True, editable=False)
    entry_hash = ChainHashField(max_length=64, editable=False)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        ordering = ["-accessed_at", "-pk"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"

    def __str__(self) -> str:
        whose = f" of {self.patient}" if self.patient_id else ""
        viewer = self.viewer if self.viewer_id else "The system"
        return (
            f"{viewer} {self.action} {self.what}{whose} via {self.channel} "
            f"at {self.accessed_at:%Y-%m-%d %H:%M}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Access log entries are append-only.")
        super().save(*args, **kwargs)
