"""Where recording files are kept: Django's storage "recordings" (settings.STORAGES), local
files under MEDIA_ROOT by default, an S3-compatible bucket with django-storages in production
(docs/recordings.md). No URL serves it: the bytes stored are encrypted (encryption.py) and
reach a browser only through the recordings API, which checks who asks."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.storage import Storage, storages

# What one GET to an object store fetches ahead: a player's next reads come from it.
OBJECT_READ_AHEAD_BYTES = 1024 * 1024


def recordings_storage() -> Storage:
    return storages["recordings"]


class _FileRangeReader:
    def __init__(self, stored) -> None:
        self._stored = stored

    def read_at(self, offset: int, length: int) -> bytes:
        self._stored.seek(offset)
        return self._stored.read(length)


class _ObjectRangeReader:
    """Reads of an S3 object by HTTP Range, a window at a time. django-storages' S3File
    would download the whole object on the first read, for every seek of the player."""

    def __init__(self, obj) -> None:
        self._obj = obj
        self._window = b""
        self._window_start = 0
        self._window_is_the_end = False

    def read_at(self, offset: int, length: int) -> bytes:
        start = offset - self._window_start
        # A window shorter than asked for ends where the object ends: it covers any read
        # that starts inside it.
        covered = start + length <= len(self._window) or (
            self._window_is_the_end and start <= len(self._window)
        )
        if start < 0 or not covered:
            wanted = max(length, OBJECT_READ_AHEAD_BYTES)
            last = offset + wanted - 1
            self._window = self._obj.get(Range=f"bytes={offset}-{last}")["Body"].read()
            self._window_start, start = offset, 0
            self._window_is_the_end = len(self._window) < wanted
        return self._window[start : start + length]


@contextmanager
def stored_range_reader(name: str) -> Iterator[_FileRangeReader | _ObjectRangeReader]:
    """A reader of byte ranges (`read_at(offset, length)`) of a stored file, open until the
    block ends: seeks in a local file, ranged GETs on an S3 object."""
    with recordings_storage().open(name, "rb") as stored:
        obj = getattr(stored, "obj", None)  # django-storages' S3File: its boto3 Object
        if obj is not None and callable(getattr(obj, "get", None)):
            yield _ObjectRangeReader(obj)
        else:
            yield _FileRangeReader(stored)


def chunk_name(recording_id, seq: int) -> str:
    return f"{recording_id}/chunks/{seq:06d}.enc"


def media_name(recording_id) -> str:
    return f"{recording_id}/media.webm.enc"


def chunk_context(recording_id, seq: int) -> str:
    """What a chunk file is encrypted as: it decrypts only as this recording's chunk `seq`."""
    return f"recording:{recording_id}:chunk:{seq}"


def media_context(recording_id) -> str:
    return f"recording:{recording_id}:media"
