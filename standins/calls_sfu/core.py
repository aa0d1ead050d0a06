"""The SFU's engine: sessions, tracks and their negotiation on aiortc.

One `Session` is one RTCPeerConnection on the SFU's side, as in Calls. A pushed (local) track is
the receiving half of one of its transceivers; its RTP feeds a `Publication`. A pulled (remote)
track is a send-only transceiver on the puller's session whose sender is driven by a
`SubscriberTrack` attached to the publisher's `Publication`: packets are forwarded, never
decoded (fanout.py), so a puller must take the publisher's codec. The SFU offers a pulled track
in that codec only, and a pull or update the puller's negotiation cannot carry is answered with
a per-track error. Everything here runs on the server's one event loop; mutations of one session
are serialized by its lock.

Request bodies arrive already validated against the Calls schemas (schema.py); this module checks
what a schema cannot (which tracks exist, the offer/answer order) and answers with Calls's
error codes.
"""

import asyncio
import contextlib
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from standins.calls_sfu.errors import (
    CLOSE_TRACK_ERROR,
    EMPTY_TRACK_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_SESSION_DESCRIPTION,
    NOT_FOUND_TRACK_ERROR,
    REPEATED_LOCAL_TRACK_ERROR,
    SESSION_ERROR,
    UPDATE_TRACK_ERROR,
    ApiError,
    item_error,
)
from standins.calls_sfu.fanout import Publication, SubscriberTrack, codec_key

logger = logging.getLogger(__name__)

# Calls: "operations on a session wait up to 5 s for its PeerConnection to be connected".
CONNECT_WAIT_SECONDS = 5.0
# Calls: up to 64 tracks per API call.
MAX_TRACKS_PER_CALL = 64
# A closed session still answers GET (tracks listed inactive) for this long, then is forgotten.
CLOSED_SESSION_RETENTION_SECONDS = 600
KINDS = ("audio", "video")
CLOSE_TRACK_DESCRIPTION = "Track doesn't exist or was already closed"


@dataclass(eq=False)
class Track:
    session: "Session"
    location: str  # "local": this session publishes it; "remote": it plays another's
    track_name: str
    kind: str
    transceiver: RTCRtpTransceiver
    mid: str | None = None
    owner_session_id: str | None = None  # remote: the publisher's session
    bidirectional: bool = False
    simulcast: dict | None = None  # kept and echoed; this SFU forwards one layer
    active: bool = True
    publication: Publication | None = None  # local, once its receiver has a track
    sink: SubscriberTrack | None = None  # remote: what sends on its transceiver's sender
    source: "Track | None" = None  # remote: the local track it plays
    subscribers: set["Track"] = field(default_factory=set)  # local: who plays it

    def state(self) -> dict[str, Any]:
        body: dict[str, Any] = {"location": self.location, "mid": self.mid or ""}
        if self.owner_session_id is not None:
            body["sessionId"] = self.owner_session_id
        body |= {
            "trackName": self.track_name,
            "kind": self.kind,
            "status": "active" if self.active else "inactive",
        }
        if self.bidirectional:
            body["bidirectionalMediaStream"] = True
        if self.simulcast is not None:
            body["simulcast"] = self.simulcast
        return body


class Session:
    def __init__(
        self,
        app_id: str,
        thirdparty: bool,
        correlation_id: str | None,
        tamper_media: bool = False,
    ) -> None:
        self.id = secrets.token_hex(16)
        self.tamper_media = tamper_media  # tests only: see fanout.tamper_offset
        self.app_id = app_id
        self.thirdparty = thirdparty  # aiortc detects an ICE-lite peer from its SDP anyway
        self.correlation_id = correlation_id
        self.pc: RTCPeerConnection | None = None
        self.tracks: list[Track] = []
        # The sending transceivers' SubscriberTracks, which outlive the tracks they play.
        self.sinks: dict[RTCRtpTransceiver, SubscriberTrack] = {}
        self.lock = asyncio.Lock()
        self.closed = False
        self.closed_at: float | None = None
        self._connected = asyncio.Event()
        self.on_close: list = []  # callbacks, called with the session as it closes

    def peer_connection(self) -> RTCPeerConnection:
        if self.pc is None:
            # No ICE servers: host candidates only (aiortc would add a public STUN server).
            self.pc = RTCPeerConnection(
                RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
            self.pc.on("connectionstatechange", self._on_connection_state)
        return self.pc

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState if self.pc else "closed"
        logger.debug("Session %s: PeerConnection %s", self.id, state)
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            await self.close()

    def check_open(self) -> None:
        if self.closed:
            raise ApiError(
                410,
                SESSION_ERROR,
                f"Session {self.id} is closed: its PeerConnection failed or closed. "
                "Create a new session.",
            )

    async def wait_connected(self) -> None:
        """Wait up to 5 s for a negotiated PeerConnection to connect (Calls does the same)."""
        pc = self.pc
        negotiated = (
            pc is not None and pc.remoteDescription is not None and pc.signalingState == "stable"
        )
        if not negotiated or self._connected.is_set():
            return
        try:
            await asyncio.wait_for(self._connected.wait(), CONNECT_WAIT_SECONDS)
        except TimeoutError:
            self.check_open()
            raise ApiError(
                425,
                SESSION_ERROR,
                f"Session {self.id}: the PeerConnection did not connect within "
                f"{CONNECT_WAIT_SECONDS:g} s. Finish setup and wait for the connection.",
            ) from None
        self.check_open()

    def active_local(self, name: str) -> Track | None:
        for track in self.tracks:
            if track.active and track.location == "local" and track.track_name == name:
                return track
        return None

    def active_by_mid(self, mid: str) -> list[Track]:
        return [track for track in self.tracks if track.active and track.mid == mid]

    def sink_for(self, transceiver: RTCRtpTransceiver, kind: str) -> SubscriberTrack:
        sink = self.sinks.get(transceiver)
        if sink is None:
            sink = SubscriberTrack(kind, transceiver, tamper=self.tamper_media)
            self.sinks[transceiver] = sink
            transceiver.sender.replaceTrack(sink)
        return sink

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_at = time.monotonic()
        for callback in self.on_close:
            callback(self)
        publications = [t.publication for t in self.tracks if t.publication is not None]
        for publication in publications:
            await publication.stop()
        for sink in self.sinks.values():
            sink.stop()
        if self.pc is not None:
            await self.pc.close()


def _transceiver(pc: RTCPeerConnection, mid: str) -> RTCRtpTransceiver | None:
    return next((t for t in pc.getTransceivers() if t.mid == mid), None)


def _description(description: RTCSessionDescription) -> dict[str, str]:
    return {"type": description.type, "sdp": description.sdp}


def _require_sdp(description: dict, expected_type: str) -> RTCSessionDescription:
    if description.get("type") != expected_type:
        raise ApiError(
            406,
            INVALID_SESSION_DESCRIPTION,
            f"Expected an {expected_type}, got {description.get('type')!r}.",
        )
    if not description.get("sdp", "").lstrip().startswith("v=0"):
        raise ApiError(
            406, INVALID_SESSION_DESCRIPTION, "The session description's sdp is not an SDP."
        )
    return RTCSessionDescription(sdp=description["sdp"], type=expected_type)


def _pending_offer_error() -> ApiError:
    return ApiError(
        406,
        INVALID_SESSION_DESCRIPTION,
        "The SFU's offer on this session still awaits the endpoint's answer "
        "(PUT renegotiate): complete that exchange before the next mutation.",
    )


class SFU:
    """All sessions of all apps. Methods take validated bodies and return response bodies."""

    def __init__(self, tamper_media: bool = False) -> None:
        self.sessions: dict[str, Session] = {}
        # Tests only: flip a byte of every forwarded payload (fanout.tamper_offset).
        self.tamper_media = tamper_media

    # --- sessions -----------------------------------------------------------------------

    def session(self, app_id: str, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None or session.app_id != app_id:
            raise ApiError(
                410, SESSION_ERROR, f"Session {session_id} does not exist (or has expired)."
            )
        return session

    async def new_session(
        self, app_id: str, body: dict | None, thirdparty: bool, correlation_id: str | None
    ) -> dict:
        self._forget_old_sessions()
        session = Session(app_id, thirdparty, correlation_id, self.tamper_media)
        session.on_close.append(self._session_closed)
        self.sessions[session.id] = session
        result: dict[str, Any] = {"sessionId": session.id}
        offer = (body or {}).get("sessionDescription")
        if offer is not None:
            try:
                async with session.lock:
                    result["sessionDescription"] = await self._answer(session, offer)
            except ApiError:
                del self.sessions[session.id]
                await session.close()
                raise
        return result

    def _forget_old_sessions(self) -> None:
        horizon = time.monotonic() - CLOSED_SESSION_RETENTION_SECONDS
        for session_id, session in list(self.sessions.items()):
            if session.closed_at is not None and session.closed_at < horizon:
                del self.sessions[session_id]

    def _session_closed(self, session: Session) -> None:
        for track in session.tracks:
            self._deactivate(track)

    def state(self, session: Session) -> dict:
        return {"tracks": [track.state() for track in session.tracks], "dataChannels": []}

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.close()
        self.sessions.clear()

    # --- tracks/new ---------------------------------------------------------------------

    async def tracks_new(self, session: Session, body: dict) -> dict:
        items: list[dict] = body.get("tracks") or []
        description = body.get("sessionDescription")
        auto_discover = bool(body.get("autoDiscover"))
        if len(items) > MAX_TRACKS_PER_CALL:
            raise ApiError(
                406, INVALID_PARAMS, f"At most {MAX_TRACKS_PER_CALL} tracks per request."
            )
        if not items and not (auto_discover and description is not None):
            raise ApiError(406, INVALID_PARAMS, "tracks is empty.")
        locations = {item.get("location") for item in items}
        if None in locations:
            raise ApiError(406, INVALID_PARAMS, "Every track needs a location: local or remote.")
        if len(locations) > 1:
            raise ApiError(
                406, INVALID_PARAMS, "Keep every track of one request local, or every one remote."
            )
        async with session.lock:
            session.check_open()
            await session.wait_connected()
            if "remote" in locations:
                if description is not None:
                    raise ApiError(
                        406,
                        INVALID_PARAMS,
                        "Pulling remote tracks takes no sessionDescription: "
                        "the SFU answers with an offer.",
                    )
                return await self._pull(session, items)
            if description is not None:
                return await self._push_with_offer(session, items, description, auto_discover)
            return await self._push_without_offer(session, items)

    async def _push_with_offer(
        self, session: Session, items: list[dict], description: dict, auto_discover: bool
    ) -> dict:
        answer = await self._answer(session, description)
        results = [self._publish_existing(session, item) for item in items]
        if auto_discover:
            published = {t.mid for t in session.tracks if t.active and t.location == "local"}
            for transceiver in session.pc.getTransceivers():
                if transceiver.receiver.track is not None and transceiver.mid not in published:
                    item = {"trackName": str(uuid.uuid4()), "mid": transceiver.mid}
                    results.append(self._publish_existing(session, item))
        return {
            "requiresImmediateRenegotiation": False,
            "sessionDescription": answer,
            "tracks": results,
        }

    def _publish_existing(self, session: Session, item: dict) -> dict:
        """Publish the media an already negotiated transceiver (`mid`) receives."""
        name, mid = item.get("trackName"), item.get("mid")
        if not name:
            return item_error(item, INVALID_PARAMS, "trackName is required.")
        if not mid:
            return item_error(
                item, INVALID_PARAMS, "mid is required: the transceiver that sends this track."
            )
        transceiver = _transceiver(session.pc, mid) if session.pc else None
        if transceiver is None:
            return item_error(item, INVALID_PARAMS, f"The session has no transceiver {mid}.")
        if transceiver.receiver.track is None:
            return item_error(item, INVALID_PARAMS, f"Transceiver {mid} sends the SFU no media.")
        if item.get("kind") not in (None, transceiver.kind):
            return item_error(item, INVALID_PARAMS, f"Transceiver {mid} is {transceiver.kind}.")
        if session.active_local(name) is not None:
            return item_error(
                item, REPEATED_LOCAL_TRACK_ERROR, f"This session already publishes {name!r}."
            )
        if any(t.location == "local" for t in session.active_by_mid(mid)):
            return item_error(
                item, REPEATED_LOCAL_TRACK_ERROR, f"Transceiver {mid} already carries a track."
            )
        track = Track(session, "local", name, transceiver.kind, transceiver, mid=mid)
        session.tracks.append(track)
        self._start_publication(track)
        return {"trackName": name, "mid": mid}

    async def _push_without_offer(self, session: Session, items: list[dict]) -> dict:
        """Local tracks without SDP: bind a negotiated mid, or have the SFU offer a transceiver."""
        pc = session.peer_connection()
        if pc.signalingState != "stable":
            raise _pending_offer_error()
        results: list[dict | None] = [None] * len(items)
        added: list[tuple[int, Track]] = []
        for index, item in enumerate(items):
            name, kind = item.get("trackName"), item.get("kind")
            if item.get("mid"):
                results[index] = self._publish_existing(session, item)
            elif not name:
                results[index] = item_error(item, INVALID_PARAMS, "trackName is required.")
            elif kind not in KINDS:
                results[index] = item_error(
                    item, INVALID_PARAMS, "kind is required when the SFU generates the offer."
                )
            elif session.active_local(name) is not None or any(
                t.track_name == name for _, t in added
            ):
                results[index] = item_error(
                    item, REPEATED_LOCAL_TRACK_ERROR, f"This session already publishes {name!r}."
                )
            else:
                bidirectional = bool(item.get("bidirectionalMediaStream"))
                transceiver = pc.addTransceiver(
                    kind, direction="sendrecv" if bidirectional else "recvonly"
                )
                if bidirectional:
                    session.sink_for(transceiver, kind)  # idle until something is pulled into it
                track = Track(
                    session, "local", name, kind, transceiver, bidirectional=bidirectional
                )
                added.append((index, track))
        body: dict[str, Any] = {"requiresImmediateRenegotiation": bool(added)}
        if added:
            body["sessionDescription"] = await self._offer(session)
            for index, track in added:
                track.mid = track.transceiver.mid
                session.tracks.append(track)
                results[index] = {"trackName": track.track_name, "mid": track.mid}
        body["tracks"] = results
        return body

    async def _pull(self, session: Session, items: list[dict]) -> dict:
        pc = session.peer_connection()
        if pc.signalingState != "stable":
            raise _pending_offer_error()
        results: list[dict | None] = [None] * len(items)
        added: list[tuple[int, Track, Track]] = []
        for index, item in enumerate(items):
            source = self._find_source(session, item)
            if isinstance(source, dict):
                results[index] = source  # the item's error
                continue
            mid = item.get("mid")
            if mid and mid.startswith("#"):
                results[index] = self._pull_into_bidirectional(session, item, source, mid[1:])
                continue
            if mid:
                results[index] = item_error(
                    item,
                    INVALID_PARAMS,
                    "A remote track's mid is assigned by the SFU, or '#<trackName>' names a "
                    "bidirectional transceiver of this session.",
                )
                continue
            codec = source.publication.codec
            if not _may_receive(pc, source.kind, codec):
                results[index] = item_error(
                    item, INVALID_PARAMS, _codec_refused(source, "this session's SDP offers")
                )
                continue
            transceiver = pc.addTransceiver(source.kind, direction="sendonly")
            # Forwarded packets keep their codec: offer the publisher's, and no RTX (NACKs are
            # answered with plain retransmissions from the sender's history).
            transceiver.setCodecPreferences(_capabilities_for(codec))
            track = Track(
                session,
                "remote",
                source.track_name,
                source.kind,
                transceiver,
                owner_session_id=source.session.id,
                simulcast=item.get("simulcast"),
                sink=session.sink_for(transceiver, source.kind),
            )
            added.append((index, track, source))
        body: dict[str, Any] = {"requiresImmediateRenegotiation": bool(added)}
        if added:
            body["sessionDescription"] = await self._offer(session)
            for index, track, source in added:
                track.mid = track.transceiver.mid
                session.tracks.append(track)
                if source.active:
                    self._subscribe(track, source)
                else:  # the publisher closed it while the offer was made
                    track.active = False
                results[index] = _remote_result(track)
        body["tracks"] = results
        return body

    def _find_source(self, session: Session, item: dict) -> "Track | dict":
        """The active local track a remote item names, or the item's error."""
        owner_id, name = item.get("sessionId"), item.get("trackName")
        if not owner_id or not name:
            return item_error(
                item, INVALID_PARAMS, "A remote track needs the owner's sessionId and trackName."
            )
        owner = self.sessions.get(owner_id)
        source = None
        if owner is not None and owner.app_id == session.app_id:
            source = owner.active_local(name)
        if source is None:
            return item_error(
                item,
                NOT_FOUND_TRACK_ERROR,
                f"Session {owner_id} publishes no active track named {name!r}.",
            )
        if source.publication is None:
            return item_error(
                item,
                EMPTY_TRACK_ERROR,
                f"Track {name!r} has no media yet: its publisher has not finished negotiating.",
            )
        if item.get("kind") not in (None, source.kind):
            return item_error(item, INVALID_PARAMS, f"Track {name!r} is {source.kind}.")
        return source

    def _pull_into_bidirectional(
        self, session: Session, item: dict, source: Track, local_name: str
    ) -> dict:
        local = session.active_local(local_name)
        if local is None or not local.bidirectional:
            return item_error(
                item,
                INVALID_PARAMS,
                f"This session has no bidirectional local track named {local_name!r}.",
            )
        if local.kind != source.kind:
            return item_error(item, INVALID_PARAMS, f"Track {local_name!r} is {local.kind}.")
        sink = session.sink_for(local.transceiver, local.kind)
        if sink.negotiated(source.publication.codec) is None:
            return item_error(
                item, INVALID_PARAMS, _codec_refused(source, f"transceiver {local.mid} negotiated")
            )
        for previous in session.active_by_mid(local.mid):
            if previous.location == "remote":
                self._deactivate(previous)
        track = Track(
            session,
            "remote",
            source.track_name,
            source.kind,
            local.transceiver,
            mid=local.mid,
            owner_session_id=source.session.id,
            bidirectional=True,
            simulcast=item.get("simulcast"),
            sink=sink,
        )
        session.tracks.append(track)
        self._subscribe(track, source)
        return _remote_result(track)

    # --- renegotiate, close, update -------------------------------------------------------

    async def renegotiate(self, session: Session, body: dict) -> dict:
        description = body.get("sessionDescription")
        if description is None:
            raise ApiError(406, INVALID_PARAMS, "sessionDescription is required.")
        async with session.lock:
            session.check_open()
            if description.get("type") == "offer":
                answer = await self._answer(session, description)
                self._attach_pending(session)
                self._deactivate_uncarried(session)
                return {"sessionDescription": answer}
            answer_description = _require_sdp(description, "answer")
            pc = session.pc
            if pc is None or pc.signalingState != "have-local-offer":
                raise ApiError(
                    406,
                    INVALID_SESSION_DESCRIPTION,
                    "No SFU offer on this session awaits an answer.",
                )
            try:
                await pc.setRemoteDescription(answer_description)
            except Exception as error:
                raise ApiError(
                    406, INVALID_SESSION_DESCRIPTION, f"The answer could not be applied: {error}"
                ) from error
            self._attach_pending(session)
            self._deactivate_uncarried(session)
            return {}

    async def tracks_close(self, session: Session, body: dict) -> dict:
        items: list[dict] = body["tracks"]
        force: bool = body["force"]
        description = body.get("sessionDescription")
        if force and description is not None:
            raise ApiError(406, INVALID_PARAMS, "A forced close takes no sessionDescription.")
        if not force and description is None:
            raise ApiError(
                406,
                INVALID_PARAMS,
                "With force=false, sessionDescription must carry the endpoint's offer.",
            )
        if len(items) > MAX_TRACKS_PER_CALL:
            raise ApiError(
                406, INVALID_PARAMS, f"At most {MAX_TRACKS_PER_CALL} tracks per request."
            )
        async with session.lock:
            session.check_open()
            if not force:
                await session.wait_connected()
                if session.pc is None or session.pc.signalingState != "stable":
                    raise _pending_offer_error()
            results = []
            for item in items:
                tracks = session.active_by_mid(item["mid"])
                if not tracks:
                    results.append(
                        {
                            "mid": item["mid"],
                            "errorCode": CLOSE_TRACK_ERROR,
                            "errorDescription": CLOSE_TRACK_DESCRIPTION,
                        }
                    )
                    continue
                for track in tracks:  # a bidirectional transceiver closes both directions
                    self._deactivate(track)
                results.append({"mid": item["mid"]})
            response: dict[str, Any] = {"requiresImmediateRenegotiation": False}
            if not force:
                response["sessionDescription"] = await self._answer(session, description)
            response["tracks"] = results
            return response

    async def tracks_update(self, session: Session, body: dict) -> dict:
        items: list[dict] = body.get("tracks") or []
        if not items:
            raise ApiError(406, INVALID_PARAMS, "tracks is empty.")
        if body.get("sessionDescription") is not None:
            raise ApiError(
                406, INVALID_PARAMS, "tracks/update reuses transceivers: it takes no SDP."
            )
        async with session.lock:
            session.check_open()
            await session.wait_connected()
            return {
                "requiresImmediateRenegotiation": False,
                "tracks": [self._update(session, item) for item in items],
            }

    def _update(self, session: Session, item: dict) -> dict:
        mid = item.get("mid")
        if not mid:
            return item_error(item, INVALID_PARAMS, "mid is required.")
        current = next((t for t in session.active_by_mid(mid) if t.location == "remote"), None)
        if current is None:
            return item_error(
                item, UPDATE_TRACK_ERROR, f"No active remote (received) track has mid {mid}."
            )
        if item.get("location", "remote") != "remote":
            return item_error(item, UPDATE_TRACK_ERROR, "Only remote tracks can be updated.")
        wanted = {
            "sessionId": item.get("sessionId", current.owner_session_id),
            "trackName": item.get("trackName", current.track_name),
            "kind": item.get("kind"),
        }
        source = self._find_source(session, {**item, **wanted})
        if isinstance(source, dict):
            return source
        if source.kind != current.kind:
            return item_error(
                item, UPDATE_TRACK_ERROR, f"Transceiver {mid} carries {current.kind}."
            )
        if current.sink.negotiated(source.publication.codec) is None:
            return item_error(
                item, UPDATE_TRACK_ERROR, _codec_refused(source, f"transceiver {mid} negotiated")
            )
        if source is not current.source:
            self._unsubscribe(current)
            current.owner_session_id = source.session.id
            current.track_name = source.track_name
            self._subscribe(current, source)
        if "simulcast" in item:
            current.simulcast = item["simulcast"]
        return _remote_result(current)

    # --- media plumbing -------------------------------------------------------------------

    def _start_publication(self, track: Track) -> None:
        track.publication = Publication(track.transceiver, on_end=lambda: self._deactivate(track))

    def _deactivate_uncarried(self, session: Session) -> None:
        """Remote tracks whose negotiation refused their publisher's codec get nothing: they go
        inactive (forwarding another codec's payloads would be garbage to the puller)."""
        for track in session.tracks:
            source = track.source
            if track.active and track.location == "remote" and source is not None:
                codec = source.publication.codec if source.publication else None
                if codec is not None and track.sink.negotiated(codec) is None:
                    logger.warning(
                        "Session %s: %s", session.id, _codec_refused(source, f"mid {track.mid}")
                    )
                    self._deactivate(track)

    def _attach_pending(self, session: Session) -> None:
        """Local tracks the SFU offered get their media once the endpoint's answer is in."""
        for track in session.tracks:
            if (
                track.active
                and track.location == "local"
                and track.publication is None
                and track.transceiver.receiver.track is not None
            ):
                self._start_publication(track)

    def _subscribe(self, track: Track, source: Track) -> None:
        track.source = source
        source.subscribers.add(track)
        source.publication.attach(track.sink)

    def _unsubscribe(self, track: Track) -> None:
        source = track.source
        if source is None:
            return
        source.subscribers.discard(track)
        if source.publication is not None:
            source.publication.detach(track.sink)
        track.source = None

    def _deactivate(self, track: Track) -> None:
        """Stop forwarding for a closed or ended track; it stays listed as inactive."""
        if not track.active:
            return
        track.active = False
        if track.location == "remote":
            self._unsubscribe(track)
            return
        for subscriber in tuple(track.subscribers):
            self._deactivate(subscriber)
        if track.publication is not None:
            # Keep reading (and dropping) until the endpoint stops sending.
            track.publication.detach_all()

    # --- SDP --------------------------------------------------------------------------------

    async def _answer(self, session: Session, description: dict) -> dict:
        offer = _require_sdp(description, "offer")
        pc = session.peer_connection()
        if pc.signalingState != "stable":
            raise _pending_offer_error()
        try:
            await pc.setRemoteDescription(offer)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as error:
            logger.info("Session %s: offer refused: %s", session.id, error)
            raise ApiError(
                406, INVALID_SESSION_DESCRIPTION, f"The offer could not be applied: {error}"
            ) from error
        return _description(pc.localDescription)

    async def _offer(self, session: Session) -> dict:
        pc = session.pc
        try:
            offer = await pc.createOffer()
            if pc.remoteDescription is not None:
                # Browsers refuse an offer that renumbers RTP header extensions already agreed
                # on in the bundle; keep the numbers the client chose.
                offer = RTCSessionDescription(
                    sdp=_keep_extension_ids(offer.sdp, pc.remoteDescription.sdp), type=offer.type
                )
            await pc.setLocalDescription(offer)
        except Exception as error:
            logger.exception("Session %s: the SFU could not create an offer", session.id)
            raise ApiError(
                500, INTERNAL_ERROR, f"The SFU could not create an offer: {error}"
            ) from error
        return _description(pc.localDescription)


_EXTMAP = re.compile(r"^a=extmap:(\d+)(/\w+)? (\S+)(.*)$", re.MULTILINE)


def _keep_extension_ids(sdp: str, agreed_sdp: str) -> str:
    """Renumber `sdp`'s a=extmap lines to the ids `agreed_sdp` gave the same URIs; URIs it
    never mentioned get ids it does not use."""
    agreed = {uri: int(ext_id) for ext_id, _, uri, _ in _EXTMAP.findall(agreed_sdp)}
    taken = set(agreed.values())
    fresh: dict[str, int] = {}

    def renumber(match: re.Match) -> str:
        uri = match.group(3)
        if uri not in agreed and uri not in fresh:
            fresh[uri] = next(i for i in range(1, 15) if i not in taken)
            taken.add(fresh[uri])
        ext_id = agreed.get(uri, fresh.get(uri))
        return f"a=extmap:{ext_id}{match.group(2) or ''} {uri}{match.group(4)}"

    return _EXTMAP.sub(renumber, sdp)


def _capabilities_for(codec: RTCRtpCodecParameters | None) -> list:
    """aiortc's codec capabilities that carry `codec`'s payloads (all of them if unknown)."""
    if codec is None:
        return []
    key = codec_key(codec)
    capabilities = RTCRtpSender.getCapabilities(codec.mimeType.split("/")[0]).codecs
    return [c for c in capabilities if (c.mimeType.lower(), c.clockRate, c.channels) == key]


def _may_receive(pc: RTCPeerConnection, kind: str, codec: RTCRtpCodecParameters | None) -> bool:
    """False when the endpoint's last SDP lists `kind` media yet never this codec: it could not
    take a forwarded payload. Without such media in it, the answer to the SFU's offer decides."""
    if codec is None or pc.remoteDescription is None:
        return True
    key = codec_key(codec)
    media = [
        m for m in sdp.SessionDescription.parse(pc.remoteDescription.sdp).media if m.kind == kind
    ]
    listed = [codec_key(c) for m in media for c in m.rtp.codecs]
    return not media or key in listed


def _codec_refused(source: Track, where: str) -> str:
    codec = source.publication.codec if source.publication else None
    name = codec.mimeType if codec else "its codec"
    return (
        f"Track {source.track_name!r} is {name}, which {where} cannot carry: the SFU forwards "
        "packets without transcoding, so the puller must accept the publisher's codec."
    )


def _remote_result(track: Track) -> dict:
    result: dict[str, Any] = {
        "sessionId": track.owner_session_id,
        "trackName": track.track_name,
        "mid": track.mid,
    }
    if track.simulcast is not None:
        result["simulcast"] = track.simulcast
    return result
