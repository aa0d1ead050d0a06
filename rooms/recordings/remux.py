"""Joining a recorder's WebM output into one seekable WebM file, with PyAV (stream copy: the
packets are rewritten into a new container, never decoded or re-encoded).

What arrives is what Chromium's MediaRecorder makes: a live WebM stream (EBML header, a Segment
of unknown size, Info, Tracks, then Clusters; no duration, no Cues), cut into chunks at
arbitrary bytes. A page reload starts a new MediaRecorder, so a new stream (its first chunk
begins with the EBML magic) whose timestamps start again at 0. A chunk that never arrived
leaves a hole in the bytes.

The input is given as runs of contiguous bytes (`Run`). A run that begins a stream is read as
it is; a run after a hole is read as that stream's header followed by its bytes from the first
whole Cluster, so what follows a hole is not lost. Timestamps: a new stream continues where the
output ends; a run after a hole keeps its stream's timeline, so the time that was lost stays a
visible gap (video resumes at its next keyframe: the frames between would not decode).
The output has Cues (at the front) and a duration.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

EBML_MAGIC = bytes.fromhex("1A45DFA3")
CLUSTER_ID = bytes.fromhex("1F43B675")
CLUSTER_TIMESTAMP_ID = 0xE7
# A stream header (EBML, Segment, Info, Tracks) is far smaller; a first Cluster not found in
# this many bytes means the stream is not what MediaRecorder makes.
HEADER_MAX_BYTES = 1024 * 1024
# A run whose timestamps start this far before the previous run's end is a stream of its own
# (its first chunk, with the EBML header, was lost): it is appended rather than overlaid.
TIMELINE_TOLERANCE_SECONDS = 0.5


class RemuxError(Exception):
    """Nothing could be made of the input; the message says why."""


@dataclass(frozen=True)
class Run:
    """Contiguous bytes of the recorder's output: `chunks()` yields them in order."""

    label: str  # for the notes, e.g. "chunks 3-7"
    begins_stream: bool  # its first bytes are the EBML magic (a new MediaRecorder)
    chunks: Callable[[], Iterable[bytes]]


@dataclass
class RemuxResult:
    duration_seconds: float
    # What was lost or could not be read, for the recording's record (empty when nothing).
    notes: list[str] = field(default_factory=list)


def remux_webm(runs: list[Run], destination: Path) -> RemuxResult:
    """Write `runs` as one seekable WebM file at `destination` (a path: moving the Cues to the
    front has libavformat read the file back). RemuxError when no packet could be read."""
    if not runs:
        raise RemuxError("nothing was uploaded")
    joiner = _Joiner(destination)
    try:
        for run in runs:
            joiner.add(run)
    finally:
        joiner.close()
    if not joiner.packets:
        destination.unlink(missing_ok=True)
        raise RemuxError("no audio or video could be read: " + "; ".join(joiner.notes))
    return RemuxResult(duration_seconds=probe_duration(destination), notes=joiner.notes)


def probe_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        if container.duration is None:
            raise RemuxError("the joined file has no duration")
        return container.duration / av.time_base


class _Joiner:
    """The output file and where its timeline stands while runs are added to it."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.output = None  # opened with the first readable run (its streams are the template)
        self.streams: dict[str, av.stream.Stream] = {}
        self.header = b""  # the latest stream's header, for reading a run after a hole
        self.offset = 0.0  # seconds added to the current stream's timestamps
        self.natural_end = 0.0  # the current stream's own timestamp where the output ends
        self.end = 0.0  # where the output ends, in seconds
        self.last_dts: dict[str, int] = {}
        self.packets = 0
        self.notes: list[str] = []

    def add(self, run: Run) -> None:
        if run.begins_stream:
            source = _HeaderCapture(run.chunks())
        elif self.header:
            source = _after_hole(self.header, run.chunks())
        else:
            self.notes.append(f"{run.label}: skipped, no stream header came before them")
            return
        try:
            with av.open(_Reader(source), mode="r", format="webm") as container:
                self._copy(run, container)
        except (av.error.FFmpegError, RemuxError) as error:
            self.notes.append(f"{run.label}: unreadable from there on ({error})")
        if run.begins_stream:
            captured = source.header()
            if captured:
                self.header = captured

    def _copy(self, run: Run, container) -> None:
        if self.output is None:
            self._open_output(container)
        first = True
        awaiting_keyframe = True  # video starts at a keyframe, in every run
        for packet in container.demux():
            if packet.pts is None or packet.dts is None or not packet.size:
                continue
            kind = packet.stream.type
            target = self.streams.get(kind)
            if target is None:
                continue  # a stream kind the first run did not have
            base = packet.time_base
            at = float(packet.pts * base)
            if first:
                first = False
                self._place_run(run, at)
            if kind == "video" and awaiting_keyframe:
                if not packet.is_keyframe:
                    continue
                awaiting_keyframe = False
            shift = round(Fraction(self.offset) / base)
            packet.pts += shift
            packet.dts += shift
            if packet.dts <= self.last_dts.get(kind, -1):
                continue  # overlaps what is already written
            self.last_dts[kind] = packet.dts
            packet.stream = target
            self.output.mux(packet)
            self.packets += 1
            ends = at + float((packet.duration or 0) * base)
            self.natural_end = max(self.natural_end, ends)
            self.end = max(self.end, ends + self.offset)

    def _place_run(self, run: Run, first_at: float) -> None:
        """Decide where the run's timeline goes, at its first packet."""
        continues = (
            not run.begins_stream
            and self.packets
            and first_at >= self.natural_end - TIMELINE_TOLERANCE_SECONDS
        )
        if continues:
            lost = first_at - self.natural_end
            if lost > TIMELINE_TOLERANCE_SECONDS:
                self.notes.append(f"{run.label}: follow a gap of {lost:.1f} s")
            return
        self.offset = self.end - first_at
        self.natural_end = first_at

    def _open_output(self, container) -> None:
        self.output = av.open(
            str(self.destination), mode="w", format="webm", options={"cues_to_front": "1"}
        )
        for stream in container.streams:
            if stream.type in ("video", "audio") and stream.type not in self.streams:
                self.streams[stream.type] = self.output.add_stream_from_template(stream)
        if not self.streams:
            raise RemuxError("the stream has neither audio nor video")

    def close(self) -> None:
        if self.output is not None:
            self.output.close()


class _Reader:
    """A file-like over pieces of bytes for av.open: read() only, so libavformat treats it as
    the stream it is (never seeks)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class _HeaderCapture:
    """Passes a stream's bytes through, keeping those before its first Cluster: the header a
    run after a hole is read with."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._prefix = bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if len(self._prefix) < HEADER_MAX_BYTES:
                self._prefix += piece[: HEADER_MAX_BYTES - len(self._prefix)]
            yield piece

    def header(self) -> bytes:
        at = _first_cluster(bytes(self._prefix))
        return bytes(self._prefix[:at]) if at is not None else b""


def _after_hole(header: bytes, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The stream's header, then the run's bytes from its first whole Cluster on."""
    pending = b""
    pieces = iter(pieces)
    for piece in pieces:
        pending += piece
        at = _first_cluster(pending)
        if at is not None:
            yield header
            yield pending[at:]
            yield from pieces
            return
        # A Cluster's start cut at the piece boundary is found once the next piece is added.
        pending = pending[-16:]


def _first_cluster(data: bytes) -> int | None:
    """Where the first Cluster element starts: its ID, a size, then its Timestamp element
    (which is how MediaRecorder begins every Cluster; the check makes a false match in media
    bytes very unlikely). None when there is none whole in `data`."""
    at = data.find(CLUSTER_ID)
    while at != -1:
        size_at = at + len(CLUSTER_ID)
        if size_at >= len(data):
            return None
        size_length = _vint_length(data[size_at])
        timestamp_at = size_at + size_length
        if timestamp_at >= len(data):
            return None
        if size_length and data[timestamp_at] == CLUSTER_TIMESTAMP_ID:
            return at
        at = data.find(CLUSTER_ID, at + 1)
    return None


def _vint_length(first_byte: int) -> int:
    """An EBML variable-length integer's length from its first byte (0 when invalid)."""
    for length in range(1, 9):
        if first_byte & (0x80 >> (length - 1)):
            return length
    return 0
