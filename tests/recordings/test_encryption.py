"""Recordings at rest: what goes in comes out, by range too, and anything else fails loudly."""

import base64
import hashlib
import io
import secrets

import pytest

from clinic.errors import ServiceUnavailableError
from rooms.recordings.encryption import (
    BLOCK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    EncryptedFileError,
    delete_stored,
    open_decrypted,
    write_encrypted,
)
from rooms.recordings.storage import recordings_storage

CONTEXT = "recording:r1:media"


def plaintext(size: int) -> bytes:
    return secrets.token_bytes(size)


def stored_bytes(name: str) -> bytes:
    with recordings_storage().open(name, "rb") as stored:
        return stored.read()


def replace_stored(name: str, content: bytes) -> None:
    recordings_storage().delete(name)
    assert recordings_storage().save(name, io.BytesIO(content)) == name


@pytest.mark.parametrize(
    "size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE, 200_001]
)
def test_round_trip(size):
    data = plaintext(size)
    stored = write_encrypted("r1/media.webm.enc", [data], context=CONTEXT)
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    opened = open_decrypted(stored.name, context=CONTEXT)
    assert opened.size == size
    assert b"".join(opened.iter_all()) == data


def test_the_stored_bytes_are_not_the_plaintext():
    data = b"a consultation " * 10_000
    stored = write_encrypted("r1/media.webm.enc", [data], context=CONTEXT)
    on_disk = stored_bytes(stored.name)
    assert b"a consultation" not in on_disk
    blocks = -(-len(data) // BLOCK_SIZE)
    assert len(on_disk) == HEADER_SIZE + len(data) + blocks * TAG_SIZE


def test_pieces_of_any_size_and_a_file_make_the_same_plaintext():
    data = plaintext(5 * BLOCK_SIZE + 123)
    pieces = [data[i : i + 7_777] for i in range(0, len(data), 7_777)]
    from_pieces = write_encrypted("a.enc", iter(pieces), context=CONTEXT)
    from_file = write_encrypted("b.enc", io.BytesIO(data), context=CONTEXT)
    assert from_pieces.sha256 == from_file.sha256 == hashlib.sha256(data).hexdigest()
    for name in (from_pieces.name, from_file.name):
        assert b"".join(open_decrypted(name, context=CONTEXT).iter_all()) == data


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        (0, 1),
        (BLOCK_SIZE - 1, BLOCK_SIZE + 1),  # across a block edge
        (BLOCK_SIZE, 2 * BLOCK_SIZE),  # exactly one block
        (10, 3 * BLOCK_SIZE + 10),  # several blocks, partial at both ends
        (3 * BLOCK_SIZE + 5, 3 * BLOCK_SIZE + 500),  # inside the last, short block
        (0, 10**9),  # clamped to the end
        (500, 500),  # empty
    ],
)
def test_ranges(start, stop):
    data = plaintext(3 * BLOCK_SIZE + 1000)
    stored = write_encrypted("r1/media.webm.enc", [data], context=CONTEXT)
    opened = open_decrypted(stored.name, context=CONTEXT)
    assert b"".join(opened.iter_range(start, stop)) == data[start:stop]


def test_a_range_reads_only_the_blocks_it_covers(monkeypatch):
    data = plaintext(10 * BLOCK_SIZE)
    stored = write_encrypted("r1/media.webm.enc", [data], context=CONTEXT)
    opened = open_decrypted(stored.name, context=CONTEXT)
    read = []
    original = type(opened)._read_block
    monkeypatch.setattr(
        type(opened), "_read_block", lambda self, f, i: read.append(i) or original(self, f, i)
    )
    assert (
        b"".join(opened.iter_range(BLOCK_SIZE * 4 + 3, BLOCK_SIZE * 5 + 3))
        == data[BLOCK_SIZE * 4 + 3 : BLOCK_SIZE * 5 + 3]
    )
    assert read == [4, 5]


def written(size=3 * BLOCK_SIZE + 1000, name="r1/media.webm.enc", context=CONTEXT):
    data = plaintext(size)
    return data, write_encrypted(name, [data], context=context).name


def test_a_flipped_byte_fails():
    _, name = written()
    content = bytearray(stored_bytes(name))
    content[HEADER_SIZE + BLOCK_SIZE + TAG_SIZE + 100] ^= 0x01  # inside block 1
    replace_stored(name, bytes(content))
    opened = open_decrypted(name, context=CONTEXT)  # the header and last block are intact
    assert b"".join(opened.iter_range(0, BLOCK_SIZE))  # block 0 still reads
    with pytest.raises(EncryptedFileError, match="block 1 does not authenticate"):
        b"".join(opened.iter_all())


def test_a_flipped_header_byte_fails_at_open():
    _, name = written()
    content = bytearray(stored_bytes(name))
    content[HEADER_SIZE - 1] ^= 0x01  # the nonce prefix
    replace_stored(name, bytes(content))
    with pytest.raises(EncryptedFileError, match="does not authenticate"):
        open_decrypted(name, context=CONTEXT)


def test_swapped_blocks_fail():
    _, name = written()
    content = stored_bytes(name)
    stored_block = BLOCK_SIZE + TAG_SIZE
    header, body = content[:HEADER_SIZE], content[HEADER_SIZE:]
    block0, block1 = body[:stored_block], body[stored_block : 2 * stored_block]
    replace_stored(name, header + block1 + block0 + body[2 * stored_block :])
    opened = open_decrypted(name, context=CONTEXT)
    with pytest.raises(EncryptedFileError, match="block 0 does not authenticate"):
        b"".join(opened.iter_range(0, 10))


def test_a_block_from_another_file_fails():
    _, name = written(name="a.enc")
    _, other = written(name="b.enc")
    mine, theirs = stored_bytes(name), stored_bytes(other)
    start, end = HEADER_SIZE, HEADER_SIZE + BLOCK_SIZE + TAG_SIZE
    replace_stored(name, mine[:start] + theirs[start:end] + mine[end:])
    with pytest.raises(EncryptedFileError, match="block 0"):
        b"".join(open_decrypted(name, context=CONTEXT).iter_all())


@pytest.mark.parametrize(
    "cut",
    [
        1,  # mid-tag of the last block
        1000 + TAG_SIZE,  # exactly the last block: what is left ends on a block boundary
        1000 + TAG_SIZE + BLOCK_SIZE,  # two whole blocks
        1000 + TAG_SIZE + 10,  # into the block before the last
    ],
)
def test_a_truncated_file_fails_at_open(cut):
    _, name = written()
    replace_stored(name, stored_bytes(name)[:-cut])
    with pytest.raises(EncryptedFileError, match=r"truncated|does not authenticate"):
        open_decrypted(name, context=CONTEXT)


def test_a_file_cut_to_its_header_fails():
    _, name = written(size=0)
    replace_stored(name, stored_bytes(name)[:HEADER_SIZE])
    with pytest.raises(EncryptedFileError, match="truncated"):
        open_decrypted(name, context=CONTEXT)


def test_appended_bytes_fail():
    _, name = written()
    replace_stored(name, stored_bytes(name) + b"\x00" * (BLOCK_SIZE + TAG_SIZE))
    with pytest.raises(EncryptedFileError):
        open_decrypted(name, context=CONTEXT)


def test_a_wrong_key_fails_clearly(settings):
    _, name = written()
    settings.RECORDINGS_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(EncryptedFileError, match="written under another key"):
        open_decrypted(name, context=CONTEXT)


def test_another_context_fails():
    _, name = written(context="recording:r1:chunk:3")
    with pytest.raises(EncryptedFileError, match="not the file for 'recording:r1:chunk:4'"):
        open_decrypted(name, context="recording:r1:chunk:4")


def test_not_an_encrypted_file_fails():
    replace_stored("plain.webm", b"\x1a\x45\xdf\xa3" + b"\x00" * 1000)
    with pytest.raises(EncryptedFileError, match="not an encrypted recording file"):
        open_decrypted("plain.webm", context=CONTEXT)


@pytest.mark.parametrize("key", ["", "not base64 at all!", base64.urlsafe_b64encode(b"short")])
def test_no_usable_key_is_the_not_configured_error(settings, key):
    settings.RECORDINGS_KEY = key.decode() if isinstance(key, bytes) else key
    with pytest.raises(ServiceUnavailableError, match="RECORDINGS_KEY"):
        write_encrypted("r1/media.webm.enc", [b"x"], context=CONTEXT)
    assert not recordings_storage().exists("r1/media.webm.enc")  # nothing stored in clear


def test_no_key_refuses_to_read(settings):
    _, name = written()
    settings.RECORDINGS_KEY = ""
    with pytest.raises(ServiceUnavailableError, match="not configured"):
        open_decrypted(name, context=CONTEXT)


def test_delete_stored_is_idempotent():
    _, name = written()
    delete_stored(name)
    assert not recordings_storage().exists(name)
    delete_stored(name)
