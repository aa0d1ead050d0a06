"""The one way into the access log: every read or write of health data, and every security
event, goes through here (docs/audit.md).

The log is a hash chain: each entry's `entry_hash` is SHA-256 over the previous entry's hash
followed by this entry's canonical form (`entry_payload`). The database computes the hash in the
insert itself, from the newest entry's hash it reads in the same statement, so appends cost one
statement on SQLite (whose IMMEDIATE transactions and write-locking statements already serialize
writers) and two on PostgreSQL (a transaction-scoped advisory lock first, so two writers never
chain onto the same head). `verify_audit_log` recomputes the chain in Python.
"""

import hashlib
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import CharField, Func, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse

from visits.lockout import client_address, forwarded_client_address
from visits.models import AccessLogEntry, Appointment, Patient, User

# The fields an entry's hash covers, in the order they are serialized: everything it says.
CHAINED_FIELDS = (
    "accessed_at",
    "viewer_id",
    "viewer_role",
    "username",
    "patient_id",
    "appointment_id",
    "what",
    "action",
    "channel",
    "record",
    "reason",
    "address",
)
# The one key of PostgreSQL's advisory lock that serializes appends (an arbitrary constant).
CHAIN_LOCK_KEY = 0x636C696E6963  # "clinic"
SQLITE_SHA256 = "clinic_sha256_hex"


def _canonical(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def entry_payload(values: Mapping) -> str:
    """An entry's canonical form: its CHAINED_FIELDS as a compact ASCII JSON array, the time in
    UTC to the microsecond and the address in its normal text form."""
    address = values["address"]
    canonical = {**values, "address": str(ipaddress.ip_address(address)) if address else None}
    return json.dumps(
        [_canonical(canonical[name]) for name in CHAINED_FIELDS],
        ensure_ascii=True,
        separators=(",", ":"),
    )


def chain_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def sqlite_register_chain_hash(sender, connection, **kwargs) -> None:
    """connection_created receiver: gives SQLite the SHA-256 that PostgreSQL has built in."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            SQLITE_SHA256,
            1,
            lambda text: hashlib.sha256(text.encode()).hexdigest(),
            deterministic=True,
        )


class _Sha256Hex(Func):
    """SHA-256 in hex of its arguments concatenated, computed by the database."""

    output_field = CharField()
    arg_joiner = " || "

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "encode(sha256(convert_to((%(expressions)s)::text, 'UTF8')), 'hex')"
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = f"{SQLITE_SHA256}(%(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _append(entry: AccessLogEntry) -> AccessLogEntry:
    head = Coalesce(
        Subquery(AccessLogEntry.objects.order_by("-pk").values("entry_hash")[:1]),
        Value(""),
        output_field=CharField(),
    )
    payload = entry_payload({name: getattr(entry, name) for name in CHAINED_FIELDS})
    entry.prev_hash = head
    entry.entry_hash = _Sha256Hex(head, Value(payload))
    if connection.vendor != "postgresql":
        # SQLite: the insert takes the write lock before it reads the head; it needs no more.
        entry.save(force_insert=True)  # the hashes come back through RETURNING
        return entry
    with transaction.atomic(savepoint=False):
        # Held to the end of the transaction, so the insert below (a statement of its own,
        # hence a snapshot taken after the lock) sees the head the last writer committed.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        entry.save(force_insert=True)
    return entry


def viewer_role_of(user: User | None) -> str:
    """The role to log: a superuser is named as such whatever their role field says; no user
    is the system."""
    if user is None:
        return AccessLogEntry.SYSTEM
    return AccessLogEntry.SUPERUSER if user.is_superuser else user.role


def request_address(request: HttpRequest | None) -> str:
    """The client address to log for an HTTP request: the one the lockout and the API's
    throttles see (NUM_PROXIES-aware), or "" when there is no request."""
    if request is None:
        return ""
    return client_address(request) or ""


def scope_address(scope: Mapping) -> str:
    """`request_address` for an ASGI scope (a WebSocket): its peer, or the address the last
    trusted proxy put in X-Forwarded-For, as for HTTP."""
    client = scope.get("client")
    forwarded = [value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    return (
        forwarded_client_address(
            remote=client[0] if client else None,
            forwarded=b",".join(forwarded).decode("latin-1") if forwarded else None,
        )
        or ""
    )


def record_access(
    *,
    viewer: User | None,
    what: str,
    action: str,
    channel: str,
    patient: Patient | None = None,
    appointment: Appointment | None = None,
    record: str = "",
    reason: str = "",
    address: str = "",
) -> AccessLogEntry:
    """Log that `viewer` did `action` to `what` (an `AccessLogEntry.What`) of `patient` through
    `channel` from `address` (`request_address`), and why when that is asked (`reason`). The
    patient is taken from the appointment when only that is given. `viewer` None is the system
    acting on its own (a retention expiry), logged as role and channel "system"; it must be
    said, never defaulted."""
    if patient is None and appointment is not None:
        patient = appointment.patient
    return _append(
        AccessLogEntry(
            viewer=viewer,
            viewer_role=viewer_role_of(viewer),
            patient=patient,
            appointment=appointment,
            what=what,
            action=action,
            channel=channel,
            record=record,
            reason=reason,
            address=address or None,
        )
    )


def request_channel(request: HttpRequest) -> str:
    """Which surface a request came through: the admin, the API or the portal."""
    match = getattr(request, "resolver_match", None)
    if match is not None and "admin" in match.namespaces:
        return AccessLogEntry.Channel.ADMIN
    if match is None and request.path.startswith(reverse("admin:index")):
        return AccessLogEntry.Channel.ADMIN  # not routed yet (a middleware's event)
    if request.path.startswith("/api/"):
        return AccessLogEntry.Channel.API
    return AccessLogEntry.Channel.PORTAL


def record_security_event(
    *,
    event: str,
    channel: str,
    user: User | None = None,
    username: str = "",
    address: str = "",
    record: str = "",
) -> AccessLogEntry:
    """Log a security event (an `AccessLogEntry.Event`: a sign-in, a failed one, a lockout, a
    sign-out, a refusal, an MFA step) of `user`, or of whoever typed `username` when no account
    is known, through `channel` from `address`. `record` names what was refused (the path)."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None  # an AnonymousUser is nobody known
    return _append(
        AccessLogEntry(
            viewer=user,
            viewer_role=viewer_role_of(user),
            username=username or (user.get_username() if user is not None else ""),
            what=AccessLogEntry.What.ACCOUNT,
            action=event,
            channel=channel,
            record=record[:100],
            address=address or None,
        )
    )


def record_request_security_event(
    *,
    event: str,
    request: HttpRequest | None,
    user: User | None = None,
    username: str = "",
    record: str = "",
) -> AccessLogEntry:
    """`record_security_event` for what happened in an HTTP request (a sign-in, an MFA step):
    the channel and the address are the request's. No request (a shell's login()) is the
    system's channel, with no address."""
    channel = request_channel(request) if request is not None else AccessLogEntry.Channel.SYSTEM
    return record_security_event(
        event=event,
        channel=channel,
        user=user,
        username=username,
        address=request_address(request),
        record=record,
    )


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head: str  # the last entry's hash, to be written down somewhere the database is not
    broken_at: int | None = None  # the id of the first entry that does not check out
    problem: str = ""


def chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the log in id order in bounded memory: every entry must carry the previous one's
    hash and a hash of its own that matches what it says. Stops at the first that does not."""
    rows: Iterator[dict] = (
        AccessLogEntry.objects.order_by("pk")
        .values("pk", "prev_hash", "entry_hash", *CHAINED_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    expected_prev, count = "", 0
    for row in rows:
        if row["prev_hash"] != expected_prev:
            return ChainReport(
                count,
                expected_prev,
                row["pk"],
                "the chain breaks before it: it does not follow the entry before it (one was "
                "deleted, reordered or rewritten)",
            )
        if chain_hash(row["prev_hash"], entry_payload(row)) != row["entry_hash"]:
            return ChainReport(
                count, expected_prev, row["pk"], "its hash does not match its contents (edited)"
            )
        expected_prev, count = row["entry_hash"], count + 1
    return ChainReport(count, expected_prev)
