"""Helpers for the local SFU's tests: a Calls API client over real HTTP that validates every
request and response body against standins.calls_sfu.schema, and aiortc endpoints (a synthetic
camera, publishing and playing peers) that stand in for browsers."""

import asyncio
import fractions
import random
import re
from dataclasses import dataclass, field
from typing import Any

import av
import requests
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtp import RtpPacket
from av import VideoFrame

from standins.calls_sfu.ice import use_loopback_host_candidates
from standins.calls_sfu.schema import validate

APP_ID = "test-app-1f2e"
APP_SECRET = "test-secret-for-the-local-sfu"
TURN_KEY_ID = "turn-key-9a8b"
TURN_KEY_TOKEN = "turn-token-for-the-local-sfu"
HTTP_TIMEOUT = 10
WAIT = 10.0  # seconds: the bound on every media wait

_NO_BODY = object()

# (method, path pattern) -> (request schema, response schema)
_SCHEMAS = [
    ("POST", r"/apps/[^/]+/sessions/new$", "NewSessionRequest", "NewSessionResponse"),
    ("POST", r"/sessions/[^/]+/tracks/new$", "TracksRequest", "TracksResponse"),
    ("PUT", r"/sessions/[^/]+/renegotiate$", "RenegotiateRequest", "RenegotiateResponse"),
    ("PUT", r"/sessions/[^/]+/tracks/close$", "CloseTracksRequest", "CloseTracksResponse"),
    ("PUT", r"/sessions/[^/]+/tracks/update$", "UpdateTracksRequest", "UpdateTracksResponse"),
    ("GET", r"/apps/[^/]+/sessions/[^/]+$", None, "GetSessionStateResponse"),
    (
        "POST",
        r"/turn/keys/[^/]+/credentials/generate-ice-servers$",
        "TurnCredentialsRequest",
        "TurnCredentialsResponse",
    ),
]


def schemas_for(method: str, path: str) -> tuple[str | None, str | None]:
    for schema_method, pattern, request_schema, response_schema in _SCHEMAS:
        if method == schema_method and re.search(pattern, path):
            return request_schema, response_schema
    return None, None


@dataclass
class CallsApi:
    """The Calls HTTP API of one app, spoken with requests; every body checked by schema."""

    base_url: str
    app_id: str
    secret: str
    log: list[tuple[str, str, int]] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        secret: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        """`path` is below base_url. `raw` sends bytes as they are (no request validation)."""
        request_schema, response_schema = schemas_for(method, path)
        sent_headers = {"Authorization": f"Bearer {self.secret if secret is None else secret}"}
        sent_headers |= headers or {}
        kwargs: dict[str, Any] = {"headers": sent_headers}
        if raw is not None:
            kwargs["data"] = raw
            sent_headers.setdefault("Content-Type", "application/json")
        elif body is not _NO_BODY:
            if request_schema is not None:
                validate(request_schema, body)
            kwargs["json"] = body
        response = requests.request(
            method, f"{self.base_url}{path}", params=params, timeout=HTTP_TIMEOUT, **kwargs
        )
        self.log.append((method, path, response.status_code))
        data = response.json()
        if response.ok:
            assert response_schema is not None, f"no schema for {method} {path}"
            validate(response_schema, data)
        else:
            validate("ErrorResponse", data)
        return response

    def app_path(self, rest: str) -> str:
        return f"/apps/{self.app_id}{rest}"

    def ok(self, method: str, path: str, body: Any = _NO_BODY, status: int = 200, **kw) -> dict:
        response = self.request(method, self.app_path(path), body, **kw)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    def error(self, method: str, path: str, body: Any = _NO_BODY, **kw) -> tuple[int, str, str]:
        """(status, errorCode, errorDescription) of a request that must fail."""
        response = self.request(method, self.app_path(path), body, **kw)
        assert not response.ok, response.text
        data = response.json()
        return response.status_code, data["errorCode"], data["errorDescription"]

    # The endpoints, on their happy path.
    def new_session(self, body: Any = _NO_BODY, **kw) -> dict:
        return self.ok("POST", "/sessions/new", body, status=201, **kw)

    def tracks_new(self, session_id: str, body: dict) -> dict:
        return self.ok("POST", f"/sessions/{session_id}/tracks/new", body)

    def renegotiate(self, session_id: str, body: dict) -> dict:
        return self.ok("PUT", f"/sessions/{session_id}/renegotiate", body)

    def close_tracks(self, session_id: str, body: dict) -> dict:
        return self.ok("PUT", f"/sessions/{session_id}/tracks/close", body)

    def update_tracks(self, session_id: str, body: dict) -> dict:
        return self.ok("PUT", f"/sessions/{session_id}/tracks/update", body)

    def state(self, session_id: str) -> dict:
        return self.ok("GET", f"/sessions/{session_id}")

    def statuses(self, session_id: str) -> dict[str, str]:
        return {t["mid"]: t["status"] for t in self.state(session_id)["tracks"]}


# --- aiortc endpoints ----------------------------------------------------------------------


class Camera(VideoStreamTrack):
    """A synthetic camera: frames of a given size whose brightness changes over time."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=self.width, height=self.height)
        luma = (self.sent * 7) % 200 + 16
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([luma if index == 0 else 128]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        self.sent += 1
        return frame


def new_peer() -> RTCPeerConnection:
    """A browser-like endpoint: bundled, host candidates on loopback, no ICE servers."""
    use_loopback_host_candidates()
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def description(pc: RTCPeerConnection) -> dict[str, str]:
    return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}


async def call(function, *args, **kwargs):
    """A blocking HTTP call off the event loop, so the endpoints' ICE and media keep running."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def offer_for(pc: RTCPeerConnection) -> dict[str, str]:
    await pc.setLocalDescription(await pc.createOffer())
    return description(pc)


async def sendonly_offer(*tracks: MediaStreamTrack) -> tuple[RTCPeerConnection, dict, list]:
    """A peer that offers to send `tracks` (a camera by default); returns (pc, offer, mids)."""
    pc = new_peer()
    transceivers = [
        pc.addTransceiver(track, direction="sendonly") for track in tracks or (Camera(),)
    ]
    offer = await offer_for(pc)
    return pc, offer, [t.mid for t in transceivers]


@dataclass
class Publisher:
    pc: RTCPeerConnection
    session_id: str
    mids: dict[str, str]  # trackName -> mid


async def publish(api: CallsApi, tracks: dict[str, MediaStreamTrack]) -> Publisher:
    """sessions/new, then tracks/new with an offer; applies the SFU's answer."""
    pc, offer, mids = await sendonly_offer(*tracks.values())
    session_id = (await call(api.new_session))["sessionId"]
    body = {
        "sessionDescription": offer,
        "tracks": [
            {"location": "local", "mid": mid, "trackName": name}
            for name, mid in zip(tracks, mids, strict=True)
        ],
    }
    result = await call(api.tracks_new, session_id, body)
    assert result["requiresImmediateRenegotiation"] is False
    assert all("errorCode" not in t for t in result["tracks"]), result["tracks"]
    await pc.setRemoteDescription(RTCSessionDescription(**result["sessionDescription"]))
    return Publisher(pc, session_id, dict(zip(tracks, mids, strict=True)))


@dataclass
class Player:
    pc: RTCPeerConnection
    session_id: str
    mids: list[str] = field(default_factory=list)

    def transceiver(self, mid: str) -> RTCRtpTransceiver:
        return next(t for t in self.pc.getTransceivers() if t.mid == mid)

    def track(self, mid: str) -> MediaStreamTrack:
        return self.transceiver(mid).receiver.track

    async def packets_received(self, mid: str) -> int:
        report = await self.transceiver(mid).receiver.getStats()
        return sum(s.packetsReceived for s in report.values() if s.type == "inbound-rtp")


async def answer_sfu_offer(api: CallsApi, pc: RTCPeerConnection, session_id: str, offer: dict):
    await pc.setRemoteDescription(RTCSessionDescription(**offer))
    await pc.setLocalDescription(await pc.createAnswer())
    assert await call(api.renegotiate, session_id, {"sessionDescription": description(pc)}) == {}


async def play(api: CallsApi, owner_session_id: str, *names: str, player: Player | None = None):
    """Pull `names` of the owner's session (into `player`'s session, or a new one)."""
    if player is None:
        player = Player(new_peer(), (await call(api.new_session))["sessionId"])
    body = {
        "tracks": [
            {"location": "remote", "sessionId": owner_session_id, "trackName": name}
            for name in names
        ]
    }
    result = await call(api.tracks_new, player.session_id, body)
    assert result["requiresImmediateRenegotiation"] is True
    assert result["sessionDescription"]["type"] == "offer"
    assert all("errorCode" not in t for t in result["tracks"]), result["tracks"]
    await answer_sfu_offer(api, player.pc, player.session_id, result["sessionDescription"])
    new_mids = [t["mid"] for t in result["tracks"]]
    player.mids += new_mids
    return player, new_mids


async def frames(track: MediaStreamTrack, count: int, timeout: float = WAIT) -> list:
    """The next `count` decoded frames of `track`, all within `timeout` seconds."""

    async def collect() -> list:
        return [await track.recv() for _ in range(count)]

    return await asyncio.wait_for(collect(), timeout)


def candidate_addresses(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


# --- known encoded media: what the SFU must forward byte for byte --------------------------

VIDEO_FPS = 30
VP8_KEY_HEADER_BYTES = 10  # frame tag (3) + start code (3) + width, height (2 + 2)


def vp8_key_frame(rng: random.Random, size: int, width: int = 320, height: int = 240) -> bytes:
    """A VP8 key frame's 10-byte header (frame tag with P=0, start code, size) then random
    bytes: it looks like a key frame to anything reading the clear header, as an end-to-end
    encrypted frame does, but no decoder can decode it."""
    first_partition = size - VP8_KEY_HEADER_BYTES
    tag = (first_partition << 5) | 0x10  # P=0 (key frame), version 0, show_frame=1
    header = tag.to_bytes(3, "little") + b"\x9d\x01\x2a"
    header += width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + rng.randbytes(size - VP8_KEY_HEADER_BYTES)


def vp8_delta_frame(rng: random.Random, size: int) -> bytes:
    tag = ((size - 3) << 5) | 0x10 | 1  # P=1: an inter frame
    return tag.to_bytes(3, "little") + rng.randbytes(size - 3)


class KnownVideo(MediaStreamTrack):
    """Yields ready-encoded VP8 frames (av.Packet), so aiortc's sender only packetizes them:
    a key frame first and whenever the sender was asked for one (PLI/FIR), else deltas."""

    kind = "video"

    def __init__(self, seed: int = 1, frame_size: int = 2500) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self._frame_size = frame_size
        self._index = 0
        self.key_frame_wanted = True
        self.key_frame_requests = 0  # PLIs/FIRs that reached the publisher's sender

    def want_key_frame(self) -> None:
        self.key_frame_requests += 1
        self.key_frame_wanted = True

    async def recv(self) -> av.Packet:
        await asyncio.sleep(1 / VIDEO_FPS)
        if self.key_frame_wanted:
            self.key_frame_wanted = False
            data = vp8_key_frame(self._rng, self._frame_size)
        else:
            data = vp8_delta_frame(self._rng, self._frame_size // 3)
        packet = av.Packet(data)
        packet.pts, packet.time_base = self._index * 3000, fractions.Fraction(1, 90_000)
        self._index += 1
        return packet


class KnownAudio(MediaStreamTrack):
    """Yields ready-encoded 20 ms Opus packets of random bytes (after a TOC byte)."""

    kind = "audio"

    def __init__(self, seed: int = 2, size: int = 90) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self._size = size
        self._index = 0

    async def recv(self) -> av.Packet:
        await asyncio.sleep(0.02)
        packet = av.Packet(b"\xfc" + self._rng.randbytes(self._size - 1))
        packet.pts, packet.time_base = self._index * 960, fractions.Fraction(1, 48_000)
        self._index += 1
        return packet


def record_sent_payloads(pc: RTCPeerConnection) -> dict[str, list[bytes]]:
    """mid -> the RTP payloads each of `pc`'s senders sends, in order (hooked before
    negotiation). A KnownVideo sender's key frame requests go to its track."""
    sent: dict[str, list[bytes]] = {}
    for transceiver in pc.getTransceivers():
        sender, payloads = transceiver.sender, []
        sent[transceiver.mid] = payloads
        original = sender._next_encoded_frame

        async def recording(codec, original=original, payloads=payloads):
            frame = await original(codec)
            if frame is not None:
                payloads.extend(frame.payloads)
            return frame

        sender._next_encoded_frame = recording
        if isinstance(sender.track, KnownVideo):
            sender._send_keyframe = sender.track.want_key_frame
    return sent


def capture_received(transceiver: RTCRtpTransceiver) -> list[RtpPacket]:
    """The RTP packets `transceiver`'s receiver gets, kept instead of handled: nothing is
    decoded (the payloads are not decodable) and the receiver sends no PLI of its own."""
    received: list[RtpPacket] = []

    async def capture(packet: RtpPacket, arrival_time_ms: int) -> None:
        received.append(packet)

    transceiver.receiver._handle_rtp_packet = capture
    return received


async def until(condition, timeout: float = WAIT) -> None:
    """Wait for `condition()` to hold, checking every 20 ms, at most `timeout` seconds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
