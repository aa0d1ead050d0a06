"""Deleting recordings: by clinic staff with a reason, or by retention once
RECORDING_RETENTION_DAYS have passed since it ended.

Deleting removes the media and any chunk files; the row stays, status DELETED, with its
consents and figures, as the record that a recording was made and why it is gone. Each
deletion is in the access log (staff: action delete with their reason; retention: action
expire, by the system).
"""

import contextlib
import logging
import os
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    NotSignedInError,
    NotYoursError,
)
from rooms.recordings.encryption import delete_stored
from rooms.recordings.models import Recording
from rooms.recordings.selectors import NO_SUCH_RECORDING
from rooms.recordings.services.playback import recording_record_label
from rooms.recordings.storage import recordings_storage
from visits.models import AccessLogEntry, User
from visits.selectors import Capability, appointment_require, user_is_signed_in
from visits.services import record_access

logger = logging.getLogger(__name__)

What, Action, Channel = AccessLogEntry.What, AccessLogEntry.Action, AccessLogEntry.Channel
DELETE_REASON_MAX_LENGTH = 1000
# Staff delete what is finished: a recording still being made or finalised would come back
# (the recorder uploads, the worker writes its file). Consent withdrawal stops a live one.
DELETABLE = (Recording.Status.READY, Recording.Status.FAILED)


def recording_delete(
    *, user: User, recording_id, reason: str, channel: str = Channel.ADMIN, address: str = ""
) -> Recording:
    """Delete a recording's media for clinic staff (Capability.DELETE_RECORDING), saying why.
    NotFoundError for a recording the user may not see, PermissionDenied for one they may
    not delete, ConflictError for one already deleted or not finished."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Say why the recording is deleted.", field="reason")
    if len(reason) > DELETE_REASON_MAX_LENGTH:
        raise ApplicationError(
            f"A reason is at most {DELETE_REASON_MAX_LENGTH} characters.", field="reason"
        )
    if not user_is_signed_in(user):
        raise NotSignedInError("Sign in first.")
    with transaction.atomic():
        recording = _locked(recording_id)
        if recording is None:
            raise NotFoundError(NO_SUCH_RECORDING)
        try:
            appointment_require(
                user=user, appointment=recording.appointment, capability=Capability.DELETE_RECORDING
            )
        except NotYoursError as refusal:
            raise NotYoursError(NO_SUCH_RECORDING) from refusal
        if recording.status == Recording.Status.DELETED:
            raise ConflictError("This recording is already deleted.")
        if recording.status not in DELETABLE:
            raise ConflictError(
                f"This recording is {recording.get_status_display().lower()}: it can be "
                "deleted once it is ready or has failed."
            )
        _remove(
            recording,
            by=user,
            reason=reason,
            action=Action.DELETE,
            channel=channel,
            address=address,
        )
    return recording


def recordings_expire(*, now: datetime) -> int:
    """Delete every recording that ended more than RECORDING_RETENTION_DAYS before `now`
    (one never stopped counts from when it started), logging each as the system's; returns
    how many."""
    days = settings.RECORDING_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    due_ids = list(
        Recording.objects.filter(status__in=Recording.LISTED)
        .annotate(over_at=Coalesce("ended_at", "started_at", "requested_at"))
        .filter(over_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    expired = 0
    for recording_id in due_ids:
        # One transaction each: a failure leaves the others expired, and the next run retries.
        with transaction.atomic():
            recording = _locked(recording_id)
            if recording is None or recording.status not in Recording.LISTED:
                continue  # deleted meanwhile
            _remove(
                recording,
                by=None,
                reason=f"Its retention of {days} day{'s' if days != 1 else ''} ran out.",
                action=Action.EXPIRE,
                channel=Channel.SYSTEM,
            )
            expired += 1
    return expired


def _locked(recording_id) -> Recording | None:
    return (
        Recording.objects.select_for_update(of=("self",))
        .select_related("appointment__doctor", "appointment__patient")
        .filter(pk=recording_id)
        .first()
    )


def _remove(
    recording: Recording,
    *,
    by: User | None,
    reason: str,
    action: str,
    channel: str,
    address: str = "",
):
    """Mark it deleted and log it in this transaction; remove its files once that commits
    (files removed under a transaction that then rolled back could not be brought back)."""
    names = [recording.media_name, *recording.chunks.values_list("storage_name", flat=True)]
    recording.chunks.all().delete()
    recording.status = Recording.Status.DELETED
    recording.deleted_at = timezone.now()
    recording.deleted_by = by
    recording.deleted_reason = reason
    recording.media_name = ""
    recording.resumed_at = None
    recording.save(
        update_fields=[
            "status",
            "deleted_at",
            "deleted_by",
            "deleted_reason",
            "media_name",
            "resumed_at",
        ]
    )
    record_access(
        viewer=by,
        what=What.RECORDING,
        action=action,
        channel=channel,
        appointment=recording.appointment,
        record=recording_record_label(recording),
        reason=reason,
        address=address,
    )
    transaction.on_commit(lambda: recording_files_remove(recording.id, names=names))


def recording_files_remove(recording_id, *, names: list[str]) -> None:
    """Remove the named files and whatever else is in the recording's folder (a chunk a failed
    upload left behind). A storage failure is logged, not raised: the row already says
    deleted, and what is left is encrypted and served by nothing."""
    storage = recordings_storage()
    try:
        for name in filter(None, names):
            delete_stored(name)
        for folder in (f"{recording_id}/chunks", str(recording_id)):
            if not storage.exists(folder):
                continue
            for name in storage.listdir(folder)[1]:
                delete_stored(f"{folder}/{name}")
        _remove_empty_folders(storage, recording_id)
    except Exception:
        logger.exception("Recording %s: its files could not all be removed", recording_id)


def _remove_empty_folders(storage, recording_id) -> None:
    """Local storage keeps empty folders (S3 has none, and no local path): remove them."""
    for folder in (f"{recording_id}/chunks", str(recording_id)):
        # Not empty, never made, or not a local storage: nothing to do.
        with contextlib.suppress(OSError, NotImplementedError):
            os.rmdir(storage.path(folder))
