"""Our CallsClient against the in-process local SFU (standins/calls_sfu) over real HTTP.

aiortc endpoints stand in for browsers: one publishes a synthetic camera through the client
(tracks/new local + the SFU's answer), another pulls it (tracks/new remote, the SFU's offer,
renegotiate with the endpoint's answer) and must decode frames. Every body the client sends and
every body it gets back is checked against standins.calls_sfu.schema by the HTTP session under
it.
"""

import asyncio
from urllib.parse import urlsplit

import pytest
import requests
from aiortc import RTCSessionDescription

from clinic.integrations.cloudflare.calls_client import (
    CallsClient,
    CallsConfigurationError,
    CallsError,
    SessionDescription,
    TracksResult,
)
from standins.calls_sfu.schema import validate
from standins.calls_sfu.server import start_in_thread
from tests.standins.calls_sfu.sfu_testkit import (
    APP_ID,
    APP_SECRET,
    WAIT,
    Camera,
    call,
    frames,
    new_peer,
    schemas_for,
    sendonly_offer,
)

pytestmark = pytest.mark.timeout(60)


class ValidatingSession(requests.Session):
    """The client's HTTP session: validates each request body and response body by path, and
    keeps (method, path, status, request schema, response schema) for every exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str, int, str | None, str]] = []

    def request(self, method, url, *args, json=None, **kwargs):
        path = urlsplit(url).path
        request_schema, response_schema = schemas_for(method, path)
        assert response_schema is not None, f"the client called an unknown endpoint {path}"
        if json is not None:
            assert request_schema is not None, f"no request schema for {method} {path}"
            validate(request_schema, json)
        assert "data" not in kwargs, "the client sends JSON bodies only"
        response = super().request(method, url, *args, json=json, **kwargs)
        body = response.json()
        checked = response_schema if response.ok else "ErrorResponse"
        validate(checked, body)
        self.log.append(
            (method, path, response.status_code, request_schema if json else None, checked)
        )
        return response


@pytest.fixture(scope="module")
def sfu():
    server = start_in_thread(app_id=APP_ID, app_secret=APP_SECRET)
    yield server
    server.stop()


@pytest.fixture
def http() -> ValidatingSession:
    session = ValidatingSession()
    yield session
    session.close()


@pytest.fixture
def client(sfu, http) -> CallsClient:
    return CallsClient(
        base_url=sfu.base_url,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        timeout=(2.0, 10.0),
        attempts=1,
        session=http,
    )


# --- Endpoints driven through the client ------------------------------------------------------


async def push(client: CallsClient, **tracks) -> tuple:
    """A publisher: sessions/new, tracks/new (local) with its offer, the SFU's answer applied.
    Returns (pc, session id, {trackName: mid})."""
    pc, offer, mids = await sendonly_offer(*tracks.values())
    session = await call(client.new_session)
    assert session.session_id and session.session_description is None
    result: TracksResult = await call(
        client.new_tracks,
        session.session_id,
        [
            {"location": "local", "mid": mid, "trackName": name}
            for name, mid in zip(tracks, mids, strict=True)
        ],
        SessionDescription(**offer),
    )
    assert result.requires_immediate_renegotiation is False
    assert result.errors == []
    assert [(t.track_name, t.mid) for t in result.tracks] == list(zip(tracks, mids, strict=True))
    assert result.session_description is not None
    assert result.session_description.type == "answer"
    await pc.setRemoteDescription(RTCSessionDescription(**result.session_description.as_json()))
    return pc, session.session_id, dict(zip(tracks, mids, strict=True))


async def answer(client: CallsClient, pc, session_id: str, result: TracksResult) -> None:
    """Apply the SFU's offer of a pull, answer it, and renegotiate with the answer."""
    assert result.requires_immediate_renegotiation is True
    assert result.session_description is not None
    assert result.session_description.type == "offer"
    await pc.setRemoteDescription(RTCSessionDescription(**result.session_description.as_json()))
    await pc.setLocalDescription(await pc.createAnswer())
    local = pc.localDescription
    renegotiated = await call(
        client.renegotiate, session_id, SessionDescription(type=local.type, sdp=local.sdp)
    )
    assert renegotiated.errors == []
    assert renegotiated.session_description is None  # an answer needs no answer


async def pull(client: CallsClient, owner_session_id: str, name: str) -> tuple:
    """A player in a session of its own: returns (pc, session id, mid)."""
    pc = new_peer()
    session_id = (await call(client.new_session)).session_id
    result = await call(
        client.new_tracks,
        session_id,
        [{"location": "remote", "sessionId": owner_session_id, "trackName": name}],
    )
    assert result.errors == []
    (track,) = result.tracks
    assert (track.session_id, track.track_name) == (owner_session_id, name)
    assert track.mid
    await answer(client, pc, session_id, result)
    return pc, session_id, track.mid


def receiver_track(pc, mid: str):
    return next(t for t in pc.getTransceivers() if t.mid == mid).receiver.track


def statuses(state) -> dict[str, tuple]:
    return {t["mid"]: (t["location"], t.get("trackName"), t["status"]) for t in state.tracks}


async def close_all(*pcs) -> None:
    for pc in pcs:
        await pc.close()


def endpoints(http: ValidatingSession) -> set[str]:
    return {schema for *_, schema in http.log}


# --- The tests --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_push_then_pull_delivers_decoded_video(client, http):
    pub_pc, publisher, mids = await push(client, cam=Camera(320, 240))
    player_pc = None
    try:
        player_pc, player, mid = await pull(client, publisher, "cam")
        decoded = await frames(receiver_track(player_pc, mid), 5, timeout=WAIT)
        assert {(f.width, f.height) for f in decoded} == {(320, 240)}

        published = await call(client.session_state, publisher)
        assert statuses(published) == {mids["cam"]: ("local", "cam", "active")}
        assert published.data_channels == []
        played = await call(client.session_state, player)
        assert statuses(played) == {mid: ("remote", "cam", "active")}
        assert played.tracks[0]["sessionId"] == publisher
    finally:
        await close_all(pub_pc, *([player_pc] if player_pc else []))
    assert all(status < 300 for _, _, status, *_ in http.log), http.log
    assert endpoints(http) == {
        "NewSessionResponse",
        "TracksResponse",
        "RenegotiateResponse",
        "GetSessionStateResponse",
    }


@pytest.mark.asyncio
async def test_close_tracks_stops_a_pulled_track(client, http):
    pub_pc, publisher, _ = await push(client, cam=Camera())
    player_pc, player, mid = await pull(client, publisher, "cam")
    try:
        await frames(receiver_track(player_pc, mid), 1)
        result = await call(client.close_tracks, player, [mid, "42"], force=True)
        assert result.requires_immediate_renegotiation is False
        assert [t.mid for t in result.tracks] == [mid, "42"]
        assert result.tracks[0].error is None
        (error,) = result.errors
        assert isinstance(error, CallsError)
        assert error.code == "close_track_error"
        assert error.description
        assert statuses(await call(client.session_state, player)) == {
            mid: ("remote", "cam", "inactive")
        }
        # The publisher's own track is untouched.
        (track,) = (await call(client.session_state, publisher)).tracks
        assert track["status"] == "active"
    finally:
        await close_all(pub_pc, player_pc)
    assert "CloseTracksResponse" in endpoints(http)
    assert ("PUT", f"/v1/apps/{APP_ID}/sessions/{player}/tracks/close") in {
        (method, path) for method, path, *_ in http.log
    }


@pytest.mark.asyncio
async def test_a_negotiated_close_carries_the_endpoint_offer(client):
    pub_pc, publisher, _ = await push(client, cam=Camera())
    player_pc, player, mid = await pull(client, publisher, "cam")
    try:
        next(t for t in player_pc.getTransceivers() if t.mid == mid).direction = "inactive"
        await player_pc.setLocalDescription(await player_pc.createOffer())
        offer = SessionDescription(type="offer", sdp=player_pc.localDescription.sdp)
        result = await call(client.close_tracks, player, [mid], offer)
        assert result.errors == []
        assert result.session_description is not None
        assert result.session_description.type == "answer"
        await player_pc.setRemoteDescription(
            RTCSessionDescription(**result.session_description.as_json())
        )
        assert player_pc.signalingState == "stable"
        assert statuses(await call(client.session_state, player))[mid][2] == "inactive"
    finally:
        await close_all(pub_pc, player_pc)


@pytest.mark.asyncio
async def test_update_tracks_switches_what_a_transceiver_plays(client, http):
    big_pc, big, _ = await push(client, cam=Camera(320, 240))
    small_pc, small, _ = await push(client, cam=Camera(160, 120))
    player_pc, player, mid = await pull(client, big, "cam")
    try:
        (frame,) = await frames(receiver_track(player_pc, mid), 1)
        assert (frame.width, frame.height) == (320, 240)
        result = await call(
            client.update_tracks,
            player,
            [{"location": "remote", "mid": mid, "sessionId": small, "trackName": "cam"}],
        )
        assert result.errors == []
        assert result.requires_immediate_renegotiation is False
        (track,) = result.tracks
        assert (track.mid, track.session_id, track.track_name) == (mid, small, "cam")

        async def until_small() -> None:
            while True:
                (frame,) = await frames(receiver_track(player_pc, mid), 1)
                if (frame.width, frame.height) == (160, 120):
                    return

        await asyncio.wait_for(until_small(), WAIT)
        (state_track,) = (await call(client.session_state, player)).tracks
        assert (state_track["sessionId"], state_track["status"]) == (small, "active")
    finally:
        await close_all(big_pc, small_pc, player_pc)
    assert "UpdateTracksResponse" in endpoints(http)


@pytest.mark.asyncio
async def test_pulling_a_track_that_does_not_exist_is_a_per_track_error_in_a_200(client, http):
    pub_pc, publisher, _ = await push(client, cam=Camera())
    player_pc = new_peer()
    try:
        player = (await call(client.new_session)).session_id
        result = await call(
            client.new_tracks,
            player,
            [
                {"location": "remote", "sessionId": publisher, "trackName": "no-such-track"},
                {"location": "remote", "sessionId": publisher, "trackName": "cam"},
            ],
        )
        assert http.log[-1][2] == 200  # not raised: the request succeeded, one track did not
        missing, found = result.tracks
        assert isinstance(missing.error, CallsError)
        assert missing.error.code == "not_found_track_error"
        assert missing.error.description
        assert missing.track_name == "no-such-track"
        assert found.error is None and found.mid
        assert result.errors == [missing.error]
        # The track that exists still plays.
        await answer(client, player_pc, player, result)
        await frames(receiver_track(player_pc, found.mid), 2)
    finally:
        await close_all(pub_pc, player_pc)


def test_a_wrong_secret_is_a_configuration_error(sfu, http):
    wrong = CallsClient(
        base_url=sfu.base_url,
        app_id=APP_ID,
        app_secret="not-the-secret",
        attempts=3,
        backoff_seconds=0.01,
        session=http,
    )
    with pytest.raises(CallsConfigurationError) as raised:
        wrong.new_session()
    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"
    assert "not-the-secret" not in str(raised.value)
    with pytest.raises(CallsConfigurationError):
        wrong.session_state("0" * 32)  # idempotent, yet a 401 is not retried
    assert [(method, status, schema) for method, _, status, _, schema in http.log] == [
        ("POST", 401, "ErrorResponse"),
        ("GET", 401, "ErrorResponse"),
    ]


def test_an_unknown_session_raises_with_the_sfu_code(client, http):
    with pytest.raises(CallsError) as raised:
        client.session_state("f" * 32)
    assert not isinstance(raised.value, CallsConfigurationError)
    assert (raised.value.status, raised.value.code) == (410, "session_error")
    assert http.log[-1][4] == "ErrorResponse"
