"""Media forwarding: one publication (a pushed track) feeds the sending side of every subscriber,
as RTP, never decoded. Like Cloudflare Calls, the SFU forwards packets: the RTP payload of every
packet reaches each subscriber bit for bit as the publisher sent it, so media the endpoints
encrypt end to end (each encoded frame sealed in the browser) passes through.

A `Publication` hooks the RTP its RTCRtpReceiver is handed for a pushed track: each packet is
copied to the `SubscriberTrack`s attached, then aiortc's own handling runs (receiver reports,
REMB, NACKs and PLIs towards the publisher on loss) minus the decoding, whose queue drops every
frame. The receiver's track still ends when the publisher leaves (RTCP BYE, a closed
connection): that is how a publication learns it ended.

A `SubscriberTrack` stands for one SFU-side RTCRtpSender. aiortc's sender reads it as its track,
which never yields a frame, so that sender never encodes (it makes no encoder at all); it still
sends the RTCP sender reports and answers NACKs from its packet history, which this module
keeps filled. The SubscriberTrack sends each packet itself on the sender's transport, rewritten
for that sender: its SSRC, the payload type it negotiated for the codec, its mid and
abs-send-time header extensions (the audio level is carried over; nothing else is), and sequence
numbers and timestamps on its own continuous timeline. It outlives any single publication: a
pulled track can be closed (detached: nothing is sent) or switched to another publication
(tracks/update) and the timeline goes on without a jump back. Video waits for a key frame after
each (re)attach, and asks the publisher for one (PLI); a subscriber's own PLI or FIR is passed
on to the publisher as a PLI.

`tamper_media` (tests only) flips one byte of every forwarded payload, in the part an
end-to-end-encrypting browser encrypts: see `tamper_offset`.
"""

import asyncio
import contextlib
import logging
import queue
import time
from collections.abc import Callable

from aiortc import clock
from aiortc.codecs import is_rtx
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensionsMap, RtpPacket, unwrap_rtx
from aiortc.utils import random32, uint16_gt

logger = logging.getLogger(__name__)

# A subscriber waiting for a key frame asks the publisher again at most this often.
KEYFRAME_REQUEST_INTERVAL_SECONDS = 0.5
# The clear bytes an end-to-end-encrypting browser leaves at the start of a frame, and the
# trailer (IV and key index) it appends; `tamper_offset` keeps out of both.
VP8_KEY_FRAME_CLEAR_BYTES = 10
VP8_DELTA_FRAME_CLEAR_BYTES = 3
OPUS_CLEAR_BYTES = 1
E2EE_TRAILER_BYTES = 13

CodecKey = tuple[str, int, int | None]


def codec_key(codec: RTCRtpCodecParameters) -> CodecKey:
    """What two sides must agree on for a payload to mean the same: name, clock, channels."""
    return codec.mimeType.lower(), codec.clockRate, codec.channels


def media_codec(codecs: list[RTCRtpCodecParameters]) -> RTCRtpCodecParameters | None:
    """The codec a negotiated transceiver sends with: aiortc and browsers take the first."""
    return next((c for c in codecs if not is_rtx(c)), None)


def vp8_frame_start(payload: bytes) -> tuple[int, bool | None]:
    """(payload descriptor length, key frame?) of a VP8 RTP payload; None: not a frame's start.
    The descriptor and the first byte after it are in the clear even when the frame is
    encrypted end to end."""
    descriptor, rest = VpxPayloadDescriptor.parse(payload)
    if not (descriptor.partition_start and descriptor.partition_id == 0 and rest):
        return len(payload) - len(rest), None
    return len(payload) - len(rest), not rest[0] & 1  # VP8 frame tag: P bit 0 = key frame


def starts_key_frame(codec: RTCRtpCodecParameters, payload: bytes) -> bool:
    """Whether a video subscriber can start (again) at this packet."""
    if codec.mimeType.lower() != "video/vp8":
        return True  # no gate for codecs this stand-in does not parse
    try:
        return vp8_frame_start(payload)[1] is True
    except ValueError:
        return False


def tamper_offset(codec: RTCRtpCodecParameters, payload: bytes) -> int | None:
    """The byte `tamper_media` flips: VP8, the first byte after the payload descriptor and, on a
    frame's first packet, after the frame's clear bytes (10 of a key frame, 3 of a delta frame);
    Opus, the byte after the 1 clear byte. None (nothing flipped) for other codecs, or when that
    byte would fall in the last 13 bytes, where a frame's trailer may be."""
    name = codec.mimeType.lower()
    if name == "video/vp8":
        try:
            offset, key_frame = vp8_frame_start(payload)
        except ValueError:
            return None
        if key_frame is not None:
            offset += VP8_KEY_FRAME_CLEAR_BYTES if key_frame else VP8_DELTA_FRAME_CLEAR_BYTES
    elif name == "audio/opus":
        offset = OPUS_CLEAR_BYTES
    else:
        return None
    return offset if offset < len(payload) - E2EE_TRAILER_BYTES else None


def tampered(codec: RTCRtpCodecParameters, payload: bytes) -> bytes:
    offset = tamper_offset(codec, payload)
    if offset is None:
        return payload
    return payload[:offset] + bytes([payload[offset] ^ 0xFF]) + payload[offset + 1 :]


class _FramesDropped(queue.Queue):
    """Stands in for an RTCRtpReceiver's decoder queue: the encoded frames aiortc assembles are
    dropped, undecoded; the end marker (None) still reaches the decoder thread, which ends the
    receiver's track. Whichever queue that thread reads (it may have started on the original
    one), the marker is in both."""

    def __init__(self, original: queue.Queue) -> None:
        super().__init__()
        self._original = original
        self.frames_dropped = 0

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self._original.put(None)
            super().put(None)
        else:
            self.frames_dropped += 1


class SubscriberTrack(MediaStreamTrack):
    """One SFU-side sender: forwards the RTP of whichever publication is attached."""

    def __init__(self, kind: str, transceiver: RTCRtpTransceiver, tamper: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.publication: Publication | None = None
        self.packets_forwarded = 0
        self.packets_refused = 0  # the publisher's codec is not one this sender negotiated
        self._transceiver = transceiver
        self._tamper = tamper
        self._ended = asyncio.Event()
        # The rewriting: out = in + offset (mod 2**16 / 2**32), re-based for each new stream.
        self._stream: tuple[int, int] | None = None  # (id of its publication, its SSRC)
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_seq: int | None = None  # the highest sequence number sent
        self._last_ts = 0
        self._last_sent_at = 0.0
        self._awaiting_key_frame = kind == "video"
        self._key_frame_asked_at = float("-inf")
        self._extension_ids: tuple[object, HeaderExtensionsMap] | None = None
        sender = transceiver.sender
        # aiortc has no public way to send ready-made RTP: keep the sender's own report
        # counters and NACK history current, as its encoding loop would.
        for name in ("rtp_history", "ntp_timestamp", "rtp_timestamp", "octet_count"):
            if not hasattr(sender, f"_RTCRtpSender__{name}"):
                raise RuntimeError(f"aiortc's RTCRtpSender has no __{name}: unsupported aiortc")
        # A PLI or FIR from the subscriber: aiortc would make its encoder produce a key frame.
        sender._send_keyframe = self._subscriber_wants_key_frame

    async def recv(self):
        """aiortc's sender waits here for a frame to encode: none ever comes."""
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self.detach()
        self._ended.set()

    # --- attaching --------------------------------------------------------------------------

    def negotiated(self, codec: RTCRtpCodecParameters) -> RTCRtpCodecParameters | None:
        """This sender's codec for `codec`'s payloads, if its negotiation took that codec."""
        key = codec_key(codec)
        return next(
            (c for c in self._transceiver._codecs if not is_rtx(c) and codec_key(c) == key), None
        )

    def attach(self, publication: "Publication") -> None:
        self.publication = publication
        self._stream = None  # re-base on its first packet
        self._awaiting_key_frame = self.kind == "video"
        self._key_frame_asked_at = float("-inf")
        self._ask_key_frame()

    def detach(self) -> None:
        self.publication = None

    def _subscriber_wants_key_frame(self) -> None:
        if self.publication is not None:
            self.publication.request_key_frame()

    def _ask_key_frame(self) -> None:
        now = time.monotonic()
        if (
            self.publication is not None
            and self.kind == "video"
            and now - self._key_frame_asked_at >= KEYFRAME_REQUEST_INTERVAL_SECONDS
        ):
            self._key_frame_asked_at = now
            self.publication.request_key_frame()

    # --- forwarding -------------------------------------------------------------------------

    def _extension_map(self) -> HeaderExtensionsMap:
        """The header extension ids this sender negotiated (re-read after a renegotiation)."""
        negotiated = self._transceiver._headerExtensions
        if self._extension_ids is None or self._extension_ids[0] is not negotiated:
            extension_map = HeaderExtensionsMap()
            extension_map.configure(RTCRtpParameters(headerExtensions=negotiated))
            self._extension_ids = (negotiated, extension_map)
        return self._extension_ids[1]

    def _rebase(self, packet: RtpPacket, clock_rate: int) -> None:
        """Continue this sender's timeline with a new stream: the next sequence number, and a
        timestamp as far on as the wall clock went since the last packet."""
        if self._last_seq is None:
            next_seq, next_ts = random_sequence_number(), random32()
        else:
            elapsed = time.monotonic() - self._last_sent_at
            next_seq = (self._last_seq + 1) & 0xFFFF
            next_ts = (self._last_ts + max(1, int(elapsed * clock_rate))) & 0xFFFFFFFF
        self._seq_offset = (next_seq - packet.sequence_number) & 0xFFFF
        self._ts_offset = (next_ts - packet.timestamp) & 0xFFFFFFFF

    async def forward(
        self, publication: "Publication", packet: RtpPacket, codec: RTCRtpCodecParameters
    ) -> None:
        if publication is not self.publication:
            return
        out_codec = self.negotiated(codec)
        if out_codec is None:
            self.packets_refused += 1
            return
        sender = self._transceiver.sender
        transport = sender.transport
        if transport is None or transport.state != "connected":
            return
        if self._awaiting_key_frame:
            if not starts_key_frame(codec, packet.payload):
                self._ask_key_frame()
                return
            self._awaiting_key_frame = False
        stream = (id(publication), packet.ssrc)
        if stream != self._stream:
            self._stream = stream
            self._rebase(packet, codec.clockRate)
        out = RtpPacket(
            payload_type=out_codec.payloadType,
            marker=packet.marker,
            sequence_number=(packet.sequence_number + self._seq_offset) & 0xFFFF,
            timestamp=(packet.timestamp + self._ts_offset) & 0xFFFFFFFF,
            ssrc=sender._ssrc,
            payload=tampered(codec, packet.payload) if self._tamper else packet.payload,
        )
        out.padding_size = packet.padding_size
        out.extensions.mid = self._transceiver.mid
        out.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
        out.extensions.audio_level = packet.extensions.audio_level
        try:
            await transport._send_rtp(out.serialize(self._extension_map()))
        except ConnectionError:
            return
        self._sent(sender, out)

    def _sent(self, sender, packet: RtpPacket) -> None:
        if self._last_seq is None or uint16_gt(packet.sequence_number, self._last_seq):
            self._last_seq, self._last_ts = packet.sequence_number, packet.timestamp
        self._last_sent_at = time.monotonic()
        self.packets_forwarded += 1
        # What aiortc's own loop records per packet: NACKs are answered from the history, the
        # sender reports carry the counts and the last (NTP time, RTP timestamp) pair.
        sender._RTCRtpSender__rtp_history[packet.sequence_number % RTP_HISTORY_SIZE] = packet
        sender._RTCRtpSender__ntp_timestamp = clock.current_ntp_time()
        sender._RTCRtpSender__rtp_timestamp = packet.timestamp
        sender._RTCRtpSender__octet_count += len(packet.payload)
        sender._RTCRtpSender__packet_count += 1


class Publication:
    """Forwards a pushed track's RTP to the attached subscribers until the track ends."""

    def __init__(self, transceiver: RTCRtpTransceiver, on_end: Callable[[], None]) -> None:
        receiver = transceiver.receiver
        self.source = receiver.track
        self.kind = transceiver.kind
        self.sinks: set[SubscriberTrack] = set()
        self.packets_received = 0
        self.key_frame_requests = 0  # PLIs sent to the publisher
        self.ended = False
        self._transceiver = transceiver
        self._receiver = receiver
        self._media_ssrc: int | None = None
        self._requests: set[asyncio.Future] = set()  # PLIs being sent
        self._on_end = on_end
        self._decoding = receiver._RTCRtpReceiver__decoder_queue
        self.frames_dropped = _FramesDropped(self._decoding)
        receiver._RTCRtpReceiver__decoder_queue = self.frames_dropped
        self._handle_rtp = receiver._handle_rtp_packet
        receiver._handle_rtp_packet = self._on_rtp
        self._task = asyncio.ensure_future(self._wait_for_end())

    @property
    def codec(self) -> RTCRtpCodecParameters | None:
        """The codec the publisher sends with, as negotiated."""
        return media_codec(self._transceiver._codecs)

    def attach(self, sink: SubscriberTrack) -> None:
        if not self.ended:
            self.sinks.add(sink)
            sink.attach(self)

    def detach(self, sink: SubscriberTrack) -> None:
        self.sinks.discard(sink)
        if sink.publication is self:
            sink.detach()

    def detach_all(self) -> None:
        for sink in tuple(self.sinks):
            self.detach(sink)

    def request_key_frame(self) -> None:
        """Ask the publisher for a key frame (a PLI on its SSRC), once it has sent media."""
        if self.kind != "video" or self._media_ssrc is None or self.ended:
            return
        self.key_frame_requests += 1
        task = asyncio.ensure_future(self._receiver._send_rtcp_pli(self._media_ssrc))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def stop(self) -> None:
        self.detach_all()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _codec_of(self, packet: RtpPacket) -> tuple[RtpPacket, RTCRtpCodecParameters] | None:
        """The media packet and its codec; a retransmission (RTX) is unwrapped."""
        codecs = {c.payloadType: c for c in self._transceiver._codecs}
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return None
        if is_rtx(codec):
            base = codecs.get(codec.parameters.get("apt"))
            if base is None or self._media_ssrc is None or len(packet.payload) < 2:
                return None  # padding, or nothing to repair yet
            return unwrap_rtx(packet, base.payloadType, self._media_ssrc), base
        return packet, codec

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.packets_received += 1
        found = self._codec_of(packet)
        if found is not None:
            media, codec = found
            if media is packet:
                first = self._media_ssrc is None
                self._media_ssrc = packet.ssrc
                if first and self.sinks:
                    self.request_key_frame()  # subscribers joined before the first packet
            for sink in tuple(self.sinks):
                await sink.forward(self, media, codec)
        await self._handle_rtp(packet, arrival_time_ms)

    async def _wait_for_end(self) -> None:
        # The receiver's track yields no frame (nothing is decoded); it ends with the publisher.
        try:
            while True:
                await self.source.recv()
        except MediaStreamError:
            pass
        self.ended = True
        self.detach_all()
        try:
            self._on_end()
        except Exception:
            logger.exception("Publication end handler failed")
