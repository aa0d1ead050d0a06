"""Recordings encrypted at rest: AES-256-GCM over fixed plaintext blocks, so a byte range (a
seek in the player) decrypts only the blocks it covers.

A stored file is a header and then the blocks, each its ciphertext followed by its 16-byte tag:

    magic "CMREC" | version (1 byte) | block size (4 bytes, big-endian) | key id (8 bytes) |
    nonce prefix (8 random bytes)

The key id is the first 8 bytes of SHA-256 of the key, so a file opened with another key fails
at once and says so. Block i's nonce is the nonce prefix + i (4 bytes); its associated data is
the header, the caller's `context` (which file this is meant to be, e.g.
"recording:<id>:media"), i and whether it is the last block. So a flipped byte, blocks swapped
or reordered, a truncated file, or a file put in another's place all fail to decrypt. An empty
file still has one (empty, last) block, so even it cannot be cut short.

The key is settings.RECORDINGS_KEY: URL-safe base64 of 32 bytes (docs/recordings.md).
"""

import hashlib
import hmac
import os
import struct
import tempfile
from base64 import urlsafe_b64decode
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files import File

from clinic.errors import ServiceUnavailableError
from rooms.recordings.storage import recordings_storage

MAGIC = b"CMREC"
VERSION = 1
BLOCK_SIZE = 64 * 1024
TAG_SIZE = 16
KEY_ID_SIZE = 8
NONCE_PREFIX_SIZE = 8
_HEADER = struct.Struct(f">{len(MAGIC)}sBI{KEY_ID_SIZE}s{NONCE_PREFIX_SIZE}s")
HEADER_SIZE = _HEADER.size
# A write is spooled in memory up to this size, then on disk, before the storage saves it.
_SPOOL_MAX_BYTES = 4 * 1024 * 1024

NOT_CONFIGURED = "Recording is not configured on this server (no RECORDINGS_KEY)."


class EncryptedFileError(Exception):
    """A stored recording file does not decrypt: tampered with, truncated, another file's,
    or written under another key. A server fault (nothing the caller did), so not one of
    clinic.errors' kinds; the message says which check failed."""


@dataclass(frozen=True)
class StoredFile:
    name: str  # as the storage saved it
    size: int  # plaintext bytes
    sha256: str  # hex digest of the plaintext


def recordings_key() -> bytes:
    """The 32-byte key from settings.RECORDINGS_KEY, or ServiceUnavailableError when none
    (or a malformed one) is set: the server refuses to record rather than store in clear."""
    encoded = settings.RECORDINGS_KEY
    if not encoded:
        raise ServiceUnavailableError(NOT_CONFIGURED)
    try:
        key = urlsafe_b64decode(encoded.strip().encode() + b"==")
    except ValueError as error:
        raise ServiceUnavailableError(
            "RECORDINGS_KEY is not URL-safe base64 (docs/recordings.md)."
        ) from error
    if len(key) != 32:
        raise ServiceUnavailableError(
            f"RECORDINGS_KEY must be 32 bytes in URL-safe base64, not {len(key)}."
        )
    return key


def key_id_of(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_SIZE]


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _associated_data(header: bytes, context: str, index: int, last: bool) -> bytes:
    # Length-prefixed context, so no two (context, index) pairs ever make the same bytes.
    encoded = context.encode()
    return header + struct.pack(">I", len(encoded)) + encoded + struct.pack(">I?", index, last)


def _blocks_of(source: Iterable[bytes] | BinaryIO, size: int) -> Iterator[bytes]:
    """The source's bytes cut into blocks of `size` (the last may be shorter or empty)."""
    if hasattr(source, "read"):
        pieces: Iterable[bytes] = iter(lambda: source.read(size), b"")
    else:
        pieces = source
    pending = bytearray()
    for piece in pieces:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    yield bytes(pending)


def _encrypted_blocks(
    source: Iterable[bytes] | BinaryIO, *, context: str, digest
) -> Iterator[bytes]:
    key = recordings_key()
    header = _HEADER.pack(MAGIC, VERSION, BLOCK_SIZE, key_id_of(key), os.urandom(NONCE_PREFIX_SIZE))
    prefix = header[-NONCE_PREFIX_SIZE:]
    cipher = AESGCM(key)
    yield header
    # One block of look-ahead: a block is known to be the last only when nothing follows it.
    # A trailing empty block after a full one is dropped (the full one is the last), except
    # for an empty source, whose only block is the empty one.
    blocks = _blocks_of(source, BLOCK_SIZE)
    current = next(blocks)
    index = 0
    for following in blocks:
        if not following:
            break
        digest.update(current)
        yield cipher.encrypt(
            _nonce(prefix, index), current, _associated_data(header, context, index, False)
        )
        current, index = following, index + 1
    digest.update(current)
    yield cipher.encrypt(
        _nonce(prefix, index), current, _associated_data(header, context, index, True)
    )


def write_encrypted(name: str, source: Iterable[bytes] | BinaryIO, *, context: str) -> StoredFile:
    """Encrypt `source` (bytes pieces of any size, or a readable binary file) under `context`
    into the recordings storage as `name`. Streams: never holds more than a block and the
    spool in memory. ServiceUnavailableError when no key is configured (nothing is written)."""
    recordings_key()  # refuse before anything is stored
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_BYTES) as spool:
        for encrypted in _encrypted_blocks(source, context=context, digest=digest):
            spool.write(encrypted)
        stored_bytes = spool.tell()
        spool.seek(0)
        saved_name = recordings_storage().save(name, File(spool, name=os.path.basename(name)))
    blocks = _block_count(stored_bytes - HEADER_SIZE, BLOCK_SIZE)
    size = stored_bytes - HEADER_SIZE - blocks * TAG_SIZE
    return StoredFile(name=saved_name, size=size, sha256=digest.hexdigest())


def _block_count(body_bytes: int, block_size: int) -> int:
    stored_block = block_size + TAG_SIZE
    return max(1, -(-body_bytes // stored_block))


class DecryptedFile:
    """A stored file opened for reading its plaintext, whole or by range. Opening checked the
    header (format, key) and the last block (nothing cut off); every block read is checked
    as it is decrypted, and a failure raises EncryptedFileError."""

    def __init__(self, name: str, *, context: str) -> None:
        self.name = name
        self.context = context
        self._key = recordings_key()
        self._cipher = AESGCM(self._key)
        storage = recordings_storage()
        stored_bytes = storage.size(name)
        with storage.open(name, "rb") as stored:
            self._header = stored.read(HEADER_SIZE)
        self._check_header(stored_bytes)
        body = stored_bytes - HEADER_SIZE
        self._blocks = _block_count(body, self._block_size)
        self.size = body - self._blocks * TAG_SIZE
        last_plain = self.size - (self._blocks - 1) * self._block_size
        if self.size < 0 or last_plain < 0 or (last_plain == 0 and self._blocks > 1):
            raise EncryptedFileError(f"{name}: truncated (its length fits no whole block).")
        # Decrypting the last block proves the file ends where it was written to end.
        with storage.open(name, "rb") as stored:
            self._read_block(stored, self._blocks - 1)

    def _check_header(self, stored_bytes: int) -> None:
        if stored_bytes < HEADER_SIZE + TAG_SIZE or len(self._header) < HEADER_SIZE:
            raise EncryptedFileError(f"{self.name}: truncated (shorter than a header and a block).")
        magic, version, block_size, key_id, prefix = _HEADER.unpack(self._header)
        if magic != MAGIC:
            raise EncryptedFileError(f"{self.name}: not an encrypted recording file.")
        if version != VERSION:
            raise EncryptedFileError(f"{self.name}: format version {version} is not known.")
        if not 0 < block_size <= 16 * 1024 * 1024:
            raise EncryptedFileError(f"{self.name}: implausible block size {block_size}.")
        if not hmac.compare_digest(key_id, key_id_of(self._key)):
            raise EncryptedFileError(
                f"{self.name}: written under another key (key id {key_id.hex()}, "
                f"RECORDINGS_KEY's is {key_id_of(self._key).hex()})."
            )
        self._block_size = block_size
        self._prefix = prefix

    def _read_block(self, stored, index: int) -> bytes:
        """Decrypt block `index`; `stored` must be open (it is sought to the block)."""
        stored.seek(HEADER_SIZE + index * (self._block_size + TAG_SIZE))
        encrypted = stored.read(self._block_size + TAG_SIZE)
        last = index == self._blocks - 1
        try:
            return self._cipher.decrypt(
                _nonce(self._prefix, index),
                encrypted,
                _associated_data(self._header, self.context, index, last),
            )
        except InvalidTag as error:
            raise EncryptedFileError(
                f"{self.name}: block {index} does not authenticate (tampered, reordered, "
                f"cut short, or not the file for {self.context!r})."
            ) from error

    def iter_range(self, start: int, stop: int) -> Iterator[bytes]:
        """The plaintext bytes [start, stop) (clamped to the file), one piece per block."""
        start, stop = max(0, start), min(stop, self.size)
        if start >= stop:
            return
        first, last = start // self._block_size, (stop - 1) // self._block_size
        with recordings_storage().open(self.name, "rb") as stored:
            for index in range(first, last + 1):
                block = self._read_block(stored, index)
                block_start = index * self._block_size
                yield block[max(0, start - block_start) : stop - block_start]

    def iter_all(self) -> Iterator[bytes]:
        return self.iter_range(0, self.size)


def open_decrypted(name: str, *, context: str) -> DecryptedFile:
    """Open the stored file `name` written under `context`. EncryptedFileError when it is not
    that file or does not decrypt; ServiceUnavailableError when no key is configured."""
    return DecryptedFile(name, context=context)


def delete_stored(name: str) -> None:
    """Remove a stored file; one already gone is fine (deleting is idempotent)."""
    if name:
        recordings_storage().delete(name)
