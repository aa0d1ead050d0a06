"""Where recording files are kept: Django's storage "recordings" (settings.STORAGES), local
files under MEDIA_ROOT by default, an S3-compatible bucket with django-storages in production
(docs/recordings.md). No URL serves it: the bytes stored are encrypted (encryption.py) and
reach a browser only through the recordings API, which checks who asks."""

from django.core.files.storage import Storage, storages


def recordings_storage() -> Storage:
    return storages["recordings"]


def chunk_name(recording_id, seq: int) -> str:
    return f"{recording_id}/chunks/{seq:06d}.enc"


def media_name(recording_id) -> str:
    return f"{recording_id}/media.webm.enc"


def chunk_context(recording_id, seq: int) -> str:
    """What a chunk file is encrypted as: it decrypts only as this recording's chunk `seq`."""
    return f"recording:{recording_id}:chunk:{seq}"


def media_context(recording_id) -> str:
    return f"recording:{recording_id}:media"
