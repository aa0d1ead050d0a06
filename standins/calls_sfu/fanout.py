"""Media fan-out: one publication (a pushed track) feeds the sending side of every subscriber.

A `Publication` reads the frames aiortc delivers for a pushed track (its RTCRtpReceiver's
track, decoded) from the moment the track is published, whether or not anyone pulls it, so
nothing piles up in aiortc's queues. It hands each frame to the `SubscriberTrack`s attached
to it. A `SubscriberTrack` is what one SFU-side RTCRtpSender reads: it outlives any single
publication, so a pulled track can be closed (detached: the sender idles, nothing is sent)
or switched to another publication (tracks/update) without stopping the sender. Like
aiortc's MediaRelay, this relays decoded frames that each sender encodes again.

Each subscriber gets its own copy of a frame, stamped on its own clock: aiortc's encoders run
on worker threads and PyAV rebases a frame's timestamps as it encodes it, so one frame object
must not reach two encoders; and a sender switched to another publication must not see time go
backwards (libvpx refuses a frame older than its first), which the publishers' own RTP
timestamps, each with a random origin, would do.
"""

import asyncio
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

logger = logging.getLogger(__name__)

# Audio frames are 20 ms: keep up to a second for a sender that falls behind. Video keeps only
# the newest frame: a late frame is worth less than a current one.
AUDIO_BUFFER_FRAMES = 50
VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


def copy_video_frame(frame: VideoFrame) -> VideoFrame:
    copy = VideoFrame(frame.width, frame.height, frame.format.name)
    for source, target in zip(frame.planes, copy.planes, strict=True):
        if source.line_size == target.line_size and source.buffer_size == target.buffer_size:
            target.update(memoryview(source))
            continue
        # Different row alignment: copy row by row.
        width = min(source.line_size, target.line_size)
        source_view, target_view = memoryview(source), memoryview(target)
        for row in range(target.height):
            start, offset = row * target.line_size, row * source.line_size
            target_view[start : start + width] = source_view[offset : offset + width]
    return copy


def copy_audio_frame(frame: AudioFrame) -> AudioFrame:
    copy = AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    copy.sample_rate = frame.sample_rate
    for source, target in zip(frame.planes, copy.planes, strict=True):
        size = target.buffer_size  # the planes' padding may differ
        data = memoryview(source)[:size]
        target.update(data if len(data) == size else bytes(data) + bytes(size - len(data)))
    return copy


class SubscriberTrack(MediaStreamTrack):
    """The frames of whichever publication is attached; waits (sends nothing) while none is."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._frames: deque = deque(maxlen=AUDIO_BUFFER_FRAMES if kind == "audio" else 1)
        self._ready = asyncio.Event()
        self.frames_forwarded = 0
        self._started = time.monotonic()
        self._last_video_pts = -1
        self._audio_time = fractions.Fraction(0)  # seconds of audio handed out so far

    def push(self, frame) -> None:
        self._frames.append(frame)
        self._ready.set()

    def clear(self) -> None:
        self._frames.clear()

    async def recv(self):
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._frames:
                self.frames_forwarded += 1
                return self._restamp(self._frames.popleft())
            self._ready.clear()
            await self._ready.wait()

    def _restamp(self, frame):
        """A copy of `frame` on this track's timeline: video by the clock, audio by samples."""
        if isinstance(frame, VideoFrame):
            copy = copy_video_frame(frame)
            pts = int((time.monotonic() - self._started) * VIDEO_CLOCK_RATE)
            self._last_video_pts = max(pts, self._last_video_pts + 1)
            copy.pts, copy.time_base = self._last_video_pts, VIDEO_TIME_BASE
            return copy
        if isinstance(frame, AudioFrame):
            copy = copy_audio_frame(frame)
            rate = frame.sample_rate
            copy.pts = int(self._audio_time * rate)
            copy.time_base = fractions.Fraction(1, rate)
            self._audio_time += fractions.Fraction(frame.samples, rate)
            return copy
        return frame

    def stop(self) -> None:
        super().stop()
        self._frames.clear()
        self._ready.set()


class Publication:
    """Reads a pushed track until it ends and copies each frame to the attached subscribers."""

    def __init__(self, source: MediaStreamTrack, on_end: Callable[[], None]) -> None:
        self.source = source
        self.kind = source.kind
        self.sinks: set[SubscriberTrack] = set()
        self.frames_received = 0
        self.ended = False
        self._on_end = on_end
        self._task = asyncio.ensure_future(self._pump())

    def attach(self, sink: SubscriberTrack) -> None:
        if not self.ended:
            self.sinks.add(sink)

    def detach(self, sink: SubscriberTrack) -> None:
        self.sinks.discard(sink)
        sink.clear()

    def detach_all(self) -> None:
        for sink in tuple(self.sinks):
            self.detach(sink)

    async def stop(self) -> None:
        self.detach_all()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _pump(self) -> None:
        try:
            while True:
                frame = await self.source.recv()
                self.frames_received += 1
                for sink in tuple(self.sinks):
                    sink.push(frame)
        except MediaStreamError:
            pass
        self.ended = True
        self.detach_all()
        try:
            self._on_end()
        except Exception:
            logger.exception("Publication end handler failed")
