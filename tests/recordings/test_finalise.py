"""recording_finalise on WebM made as Chromium's MediaRecorder makes it (tests/recordings/
webm_maker.py), cut into 2 s timeslices at arbitrary bytes and stored as encrypted chunks."""

import functools
import hashlib
import io
import os

import av
import pytest

from rooms.recordings import finalise as finalise_module
from rooms.recordings.encryption import open_decrypted
from rooms.recordings.finalise import GAPS_NOTE, recording_finalise
from rooms.recordings.models import Recording, RecordingChunk
from rooms.recordings.remux import CLUSTER_ID
from rooms.recordings.storage import media_context, recordings_storage
from tests.recordings.recording_kit import stopped_recording, store_chunks
from tests.recordings.webm_maker import make_webm, timeslices
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

CUES_ID = bytes.fromhex("1C53BB6B")
SEEK_ID_OF_FOUR_BYTES = bytes.fromhex("53AB84")


@functools.cache
def recorder_output(seconds: float) -> bytes:
    return make_webm(seconds=seconds)


def pieces_of(seconds: float) -> list[bytes]:
    return timeslices(recorder_output(seconds), seconds=seconds)


def media_of(recording: Recording) -> bytes:
    stored = open_decrypted(recording.media_name, context=media_context(recording.id))
    return b"".join(stored.iter_all())


def cues_element_at(media: bytes) -> int:
    """Where the Cues element starts (the SeekHead names its ID too, after a SeekID)."""
    at = media.find(CUES_ID)
    while at != -1 and media[at - 3 : at] == SEEK_ID_OF_FOUR_BYTES:
        at = media.find(CUES_ID, at + 1)
    assert at != -1, "no Cues"
    return at


def stored_files(location) -> list[str]:
    return sorted(str(path.relative_to(location)) for path in location.rglob("*") if path.is_file())


def test_the_chunks_become_one_seekable_webm_file(recordings_store):
    pieces = pieces_of(10)
    assert len(pieces) == 5 and not pieces[1].startswith(CLUSTER_ID)
    assert CUES_ID not in recorder_output(10)  # a live stream: no index to seek with
    recording = stopped_recording(last_seq=len(pieces) - 1)
    store_chunks(recording, pieces)

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY, recording.failure
    assert recording.failure == ""
    assert recording.media_type == "video/webm"
    media = media_of(recording)
    assert recording.size_bytes == len(media)
    assert recording.sha256 == hashlib.sha256(media).hexdigest()
    assert recording.duration_seconds == pytest.approx(10, abs=0.5)
    with av.open(io.BytesIO(media)) as container:
        assert [s.type for s in container.streams].count("video") == 1
        assert [s.type for s in container.streams].count("audio") == 1
        assert container.duration / av.time_base == pytest.approx(10, abs=0.5)
        # Stream copy: the recorder's VP8 and Opus, not re-encoded into something else.
        assert {s.codec_context.name for s in container.streams} == {"vp8", "opus"}
        # Seeking uses the Cues, at the front so a player finds them in its first request:
        # the element itself before the first Cluster, not only the SeekHead's pointer to it.
        assert cues_element_at(media) < media.index(CLUSTER_ID)
        video = container.streams.video[0]
        container.seek(5 * av.time_base)
        packet = next(p for p in container.demux(video) if p.pts is not None)
        assert 3.5 <= float(packet.pts * packet.time_base) <= 5.0  # the keyframe at 4 s
        frame = next(iter(packet.decode()))
        assert frame.width == 640


def test_finalising_deletes_the_chunks_and_logs_the_system_made_the_file(recordings_store):
    recording = stopped_recording(last_seq=4)
    store_chunks(recording, pieces_of(10))

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert not RecordingChunk.objects.filter(recording=recording).exists()
    assert stored_files(recordings_store) == [recording.media_name]
    [entry] = AccessLogEntry.objects.filter(what=AccessLogEntry.What.RECORDING)
    assert entry.viewer is None
    assert entry.viewer_role == AccessLogEntry.SYSTEM
    assert entry.action == AccessLogEntry.Action.CREATE
    assert entry.channel == AccessLogEntry.Channel.SYSTEM
    assert entry.appointment == recording.appointment
    assert entry.patient == recording.appointment.patient


def test_a_reload_s_new_stream_continues_after_the_first(recordings_store):
    first, second = pieces_of(10), pieces_of(4)
    recording = stopped_recording(last_seq=len(first) + len(second) - 1)
    store_chunks(recording, first + second)

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY, recording.failure
    assert recording.duration_seconds == pytest.approx(14, abs=0.5)
    with av.open(io.BytesIO(media_of(recording))) as container:
        assert len(container.streams) == 2
        video = container.streams.video[0]
        times = [float(p.pts * p.time_base) for p in container.demux(video) if p.pts is not None]
    # One timeline: the second stream's frames follow the first's, not overlaid on them.
    assert times == sorted(times)
    assert len(times) == pytest.approx(14 * 15, abs=3)
    assert max(times) == pytest.approx(14, abs=0.5)


def test_a_missing_middle_chunk_keeps_what_decodes_and_notes_the_gap(recordings_store):
    pieces = pieces_of(10)
    recording = stopped_recording(last_seq=4)
    store_chunks(recording, [pieces[0], pieces[1], pieces[3], pieces[4]], seqs=[0, 1, 3, 4])

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY, recording.failure
    assert recording.failure.startswith(GAPS_NOTE)
    assert "chunks never uploaded: 2" in recording.failure
    assert "gap of" in recording.failure
    # The part after the hole keeps its place in time: the file still lasts the 10 s.
    assert recording.duration_seconds == pytest.approx(10, abs=0.5)
    with av.open(io.BytesIO(media_of(recording))) as container:
        after_the_hole = {
            p.stream.type
            for p in container.demux()
            if p.pts is not None and float(p.pts * p.time_base) > 7
        }
        assert after_the_hole == {"video", "audio"}
        container.seek(0)
        video = [
            (float(p.pts * p.time_base), p.is_keyframe)
            for p in container.demux(container.streams.video[0])
            if p.pts is not None
        ]
    # Video resumes at a keyframe: the frames before it would refer to ones that were lost.
    resumes = next(i for i in range(1, len(video)) if video[i][0] - video[i - 1][0] > 0.5)
    assert video[resumes][1], video[resumes - 3 : resumes + 3]
    with av.open(io.BytesIO(media_of(recording))) as container:
        container.seek(8 * av.time_base)
        frames = list(container.decode(video=0))
    assert frames  # video after the hole decodes (it resumes at a keyframe)


def test_the_recorder_s_last_chunk_never_arriving_is_noted(recordings_store):
    pieces = pieces_of(10)
    recording = stopped_recording(last_seq=5)
    store_chunks(recording, pieces)

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert "chunks never uploaded: 5" in recording.failure


@pytest.mark.parametrize(
    "pieces",
    [
        [os.urandom(3000) for _ in range(3)],
        [bytes.fromhex("1A45DFA3") + os.urandom(3000), os.urandom(3000)],
    ],
    ids=["random-bytes", "ebml-magic-then-garbage"],
)
def test_garbage_fails_with_the_reason_and_leaves_no_file(recordings_store, pieces):
    recording = stopped_recording(last_seq=len(pieces) - 1)
    store_chunks(recording, pieces)
    chunk_files = stored_files(recordings_store)

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert "could be read" in recording.failure or "no stream header" in recording.failure
    assert recording.media_name == "" and recording.sha256 == ""
    assert stored_files(recordings_store) == chunk_files  # no media; the chunks kept
    assert RecordingChunk.objects.filter(recording=recording).count() == len(pieces)


def test_a_tampered_chunk_fails_the_recording_saying_so(recordings_store):
    recording = stopped_recording(last_seq=4)
    [*_, last] = store_chunks(recording, pieces_of(10))
    path = recordings_store / last.storage_name
    data = bytearray(path.read_bytes())
    data[-40] ^= 1
    path.write_bytes(bytes(data))

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert "does not authenticate" in recording.failure
    assert not recordings_storage().exists(f"{recording.id}/media.webm.enc")


def test_a_recording_with_no_chunk_fails_saying_nothing_was_uploaded():
    recording = stopped_recording()

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert recording.failure == "nothing was uploaded"


def test_a_second_finalise_changes_nothing(recordings_store):
    recording = stopped_recording(last_seq=4)
    store_chunks(recording, pieces_of(10))
    recording_finalise(recording_id=recording.id)
    recording.refresh_from_db()
    files = stored_files(recordings_store)

    again = recording_finalise(recording_id=recording.id)

    assert again.status == Recording.Status.READY
    assert (again.media_name, again.sha256) == (recording.media_name, recording.sha256)
    assert stored_files(recordings_store) == files
    assert AccessLogEntry.objects.filter(what=AccessLogEntry.What.RECORDING).count() == 1


def test_two_finalises_racing_make_one_result(recordings_store, monkeypatch):
    recording = stopped_recording(last_seq=4)
    store_chunks(recording, pieces_of(10))
    remux = finalise_module.remux_webm
    rivals = []
    calls = []

    def remux_while_a_rival_starts(runs, destination):
        # A second worker takes the same task while the first is remuxing.
        calls.append(destination)
        if len(calls) == 1:
            rivals.append(recording_finalise(recording_id=recording.id))
        return remux(runs, destination)

    monkeypatch.setattr(finalise_module, "remux_webm", remux_while_a_rival_starts)

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert [rival.status for rival in rivals] == [Recording.Status.PROCESSING]
    assert len(calls) == 1  # the rival did not remux
    assert recording.status == Recording.Status.READY
    assert stored_files(recordings_store) == [recording.media_name]


def test_a_recording_still_running_is_not_finalised(recordings_store):
    recording = stopped_recording(ended_at=None, last_seq=4)
    store_chunks(recording, pieces_of(10))

    recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.RECORDING
    assert RecordingChunk.objects.filter(recording=recording).count() == 5


def test_a_failure_after_the_file_is_written_removes_it_and_is_raised_on(
    recordings_store, monkeypatch
):
    recording = stopped_recording(last_seq=4)
    store_chunks(recording, pieces_of(10))
    chunk_files = stored_files(recordings_store)

    def log_down(**_):
        raise RuntimeError("access log unavailable")

    monkeypatch.setattr(finalise_module, "record_access", log_down)

    with pytest.raises(RuntimeError):
        recording_finalise(recording_id=recording.id)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.FAILED
    assert recording.failure == "Unexpected error: RuntimeError: access log unavailable"
    assert stored_files(recordings_store) == chunk_files
    assert RecordingChunk.objects.filter(recording=recording).count() == 5
