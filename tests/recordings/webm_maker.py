"""WebM made the way Chromium's MediaRecorder makes it, for the worker's tests and the bench.

MediaRecorder (`video/webm;codecs=vp8,opus`) writes a live stream: EBML header, a Segment of
unknown size, Tracks, then Clusters, with no duration and no Cues; `start(2000)` hands it over
in pieces every 2 s that are cut at whatever byte the encoder had reached, not at Clusters.
libavformat's WebM muxer in live mode writes that same shape.
"""

import functools
import io
import itertools
import math
import os
from array import array

import av

SAMPLE_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms, as Opus frames are in Chromium
# Random bytes mapped to low-amplitude grain around mid-grey: detail enough for the encoder's
# rate control to reach its target, as a camera's picture does.
_GRAIN = bytes(112 + (value & 0x1F) for value in range(256))


def make_webm(
    *,
    seconds: float = 10,
    width: int = 640,
    height: int = 240,
    fps: int = 15,
    video_bits_per_second: int = 500_000,
    keyframe_every_seconds: float = 2,
    noise: bool = False,
) -> bytes:
    """VP8 video (a moving bar; random grain with `noise`, so the encoder spends its bitrate
    as on a camera's picture) and a 440 Hz Opus tone, interleaved in time order."""
    buffer = io.BytesIO()
    output = av.open(buffer, mode="w", format="webm", options={"live": "1"})
    video = output.add_stream(
        "libvpx",
        rate=fps,
        options={"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0", "qmax": "63"},
    )
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.bit_rate = video_bits_per_second
    video.codec_context.gop_size = max(1, round(keyframe_every_seconds * fps))
    audio = output.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
    audio.bit_rate = 32_000
    frames = round(seconds * fps)
    audio_frames = round(seconds * SAMPLE_RATE / AUDIO_FRAME)
    next_video = next_audio = 0
    while next_video < frames or next_audio < audio_frames:
        video_time = next_video / fps if next_video < frames else math.inf
        audio_time = (
            next_audio * AUDIO_FRAME / SAMPLE_RATE if next_audio < audio_frames else math.inf
        )
        if video_time <= audio_time:
            for packet in video.encode(_picture(next_video, width, height, noise)):
                output.mux(packet)
            next_video += 1
        else:
            for packet in audio.encode(_tone(next_audio)):
                output.mux(packet)
            next_audio += 1
    for stream in (video, audio):
        for packet in stream.encode():
            output.mux(packet)
    output.close()
    return buffer.getvalue()


def _picture(index: int, width: int, height: int, noise: bool) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    if noise:
        pixels = bytearray(os.urandom(luma.buffer_size).translate(_GRAIN))
    else:
        pixels = bytearray(luma.buffer_size)
    bar = (index * 8) % (width - 8)
    for row in range(height):
        start = row * luma.line_size + bar
        pixels[start : start + 8] = b"\xff" * 8
    luma.update(bytes(pixels))
    frame.planes[1].update(bytes([index * 3 % 256]) * frame.planes[1].buffer_size)
    frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
    frame.pts = index
    return frame


@functools.cache
def _tone_second() -> bytes:
    """One second of a 440 Hz tone (a whole number of periods, so it repeats seamlessly)."""
    return array(
        "h", (int(6000 * math.sin(2 * math.pi * 440 * n / SAMPLE_RATE)) for n in range(SAMPLE_RATE))
    ).tobytes()


def _tone(index: int) -> av.AudioFrame:
    first = index * AUDIO_FRAME
    start = (first % SAMPLE_RATE) * 2  # 2 bytes a sample
    frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
    frame.planes[0].update(_tone_second()[start : start + AUDIO_FRAME * 2])
    frame.sample_rate = SAMPLE_RATE
    frame.pts = first
    return frame


def timeslices(data: bytes, *, seconds: float, every_seconds: float = 2) -> list[bytes]:
    """`data` cut as MediaRecorder's timeslice cuts it: about `every_seconds` of bytes each,
    at arbitrary byte offsets (a piece is not a Cluster)."""
    pieces = max(1, math.ceil(seconds / every_seconds))
    size = math.ceil(len(data) / pieces)
    # Offset by an odd amount, so no cut lands on a Cluster by construction.
    cuts = [0, *(min(len(data), n * size + 7) for n in range(1, pieces)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts) if b > a]
