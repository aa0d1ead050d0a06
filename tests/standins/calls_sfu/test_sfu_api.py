"""The local SFU's HTTP API over real HTTP: every endpoint's happy path and its errors, each
request and response validated against standins.calls_sfu.schema (by CallsApi)."""

import asyncio
import json
import socket

import pytest
import requests
from aioice import stun
from aiortc import RTCSessionDescription
from sfu_testkit import (
    APP_ID,
    APP_SECRET,
    TURN_KEY_ID,
    TURN_KEY_TOKEN,
    CallsApi,
    Camera,
    answer_sfu_offer,
    call,
    candidate_addresses,
    new_peer,
    offer_for,
    play,
    publish,
    sendonly_offer,
)

pytestmark = pytest.mark.timeout(60)

SESSION_ENDPOINTS = [
    ("POST", "/tracks/new", {"tracks": [{"location": "local", "trackName": "x", "kind": "audio"}]}),
    ("PUT", "/renegotiate", {"sessionDescription": {"type": "answer", "sdp": "v=0"}}),
    ("PUT", "/tracks/close", {"tracks": [{"mid": "0"}], "force": True}),
    ("PUT", "/tracks/update", {"tracks": [{"location": "remote", "mid": "0"}]}),
    ("GET", "", None),
]


def endpoint_body(body):
    return {} if body is None else {"body": body}


# --- sessions/new -------------------------------------------------------------------------


def test_new_session_without_body_returns_only_a_session_id(api):
    created = api.new_session()
    assert set(created) == {"sessionId"}
    assert api.state(created["sessionId"]) == {"tracks": [], "dataChannels": []}
    assert api.new_session()["sessionId"] != created["sessionId"]


def test_new_session_takes_thirdparty_and_correlation_id(api):
    created = api.new_session(params={"thirdparty": "true", "correlationId": "visit-42"})
    assert created["sessionId"]
    status, code, _ = api.error("POST", "/sessions/new", params={"thirdparty": "perhaps"})
    assert (status, code) == (400, "decoding_error")


@pytest.mark.asyncio
async def test_new_session_with_an_offer_answers_it(api):
    pc, offer, _ = await sendonly_offer()
    try:
        created = await call(api.new_session, {"sessionDescription": offer})
        assert created["sessionDescription"]["type"] == "answer"
        # Loopback only: the SFU's ICE candidates are all on 127.0.0.1.
        assert candidate_addresses(created["sessionDescription"]["sdp"]) == {"127.0.0.1"}
        await pc.setRemoteDescription(RTCSessionDescription(**created["sessionDescription"]))
        # The negotiated transceiver is published later by naming its mid (no SDP).
        result = await call(
            api.tracks_new,
            created["sessionId"],
            {"tracks": [{"location": "local", "mid": "0", "trackName": "cam"}]},
        )
        assert result == {
            "requiresImmediateRenegotiation": False,
            "tracks": [{"trackName": "cam", "mid": "0"}],
        }
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_a_mutation_waits_for_the_connection_then_fails_425(api, monkeypatch):
    # Calls waits up to 5 s for a negotiated PeerConnection to connect; shortened here.
    monkeypatch.setattr("standins.calls_sfu.core.CONNECT_WAIT_SECONDS", 0.3)
    pc, offer, _ = await sendonly_offer()
    try:
        created = await call(api.new_session, {"sessionDescription": offer})
        # The endpoint never applies the answer, so the session never connects.
        status, code, description = await call(
            api.error,
            "POST",
            f"/sessions/{created['sessionId']}/tracks/new",
            {"tracks": [{"location": "local", "mid": "0", "trackName": "cam"}]},
        )
        assert (status, code) == (425, "session_error")
        assert "did not connect" in description
    finally:
        await pc.close()


def test_new_session_refuses_an_answer_or_garbage_sdp(api):
    status, code, _ = api.error(
        "POST", "/sessions/new", {"sessionDescription": {"type": "answer", "sdp": "v=0"}}
    )
    assert (status, code) == (406, "invalid_session_description")
    status, code, _ = api.error(
        "POST", "/sessions/new", {"sessionDescription": {"type": "offer", "sdp": "nonsense"}}
    )
    assert (status, code) == (406, "invalid_session_description")


# --- authorization and unknown resources ------------------------------------------------------


def _all_endpoints(session_id: str):
    yield "POST", "/sessions/new", None
    for method, suffix, body in SESSION_ENDPOINTS:
        yield method, f"/sessions/{session_id}{suffix}", body


def test_every_endpoint_refuses_a_wrong_secret(api):
    session_id = api.new_session()["sessionId"]
    for method, path, body in _all_endpoints(session_id):
        status, code, description = api.error(
            method, path, secret="not-the-secret", **endpoint_body(body)
        )
        assert (status, code) == (401, "unauthorized"), (method, path)
        assert "not accepted" in description


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": ""}, {"Authorization": f"Basic {APP_SECRET}"}, {"Authorization": "Bearer"}],
)
def test_a_missing_or_non_bearer_authorization_is_401(api, headers):
    session_id = api.new_session()["sessionId"]
    for method, path, body in _all_endpoints(session_id):
        status, code, _ = api.error(method, path, headers=headers, **endpoint_body(body))
        assert (status, code) == (401, "unauthorized"), (method, path)


def test_an_unknown_app_is_404_not_found(sfu):
    other = CallsApi(sfu.base_url, "no-such-app", APP_SECRET)
    for method, path, body in _all_endpoints("0" * 32):
        status, code, description = other.error(method, path, **endpoint_body(body))
        assert (status, code) == (404, "not_found"), (method, path)
        assert "no-such-app" in description


@pytest.mark.parametrize(("method", "suffix", "body"), SESSION_ENDPOINTS)
def test_an_unknown_session_is_410_session_error(api, method, suffix, body):
    status, code, description = api.error(
        method, f"/sessions/{'f' * 32}{suffix}", **endpoint_body(body)
    )
    assert (status, code) == (410, "session_error")
    assert "f" * 32 in description


def test_sessions_belong_to_their_app(sfu, api):
    # Another app with the same secret is still another app: 404 before any session lookup.
    session_id = api.new_session()["sessionId"]
    other = CallsApi(sfu.base_url, "other-app", APP_SECRET)
    assert other.error("GET", f"/sessions/{session_id}")[:2] == (404, "not_found")


# --- malformed requests ----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix", "body"), SESSION_ENDPOINTS[:4])
def test_malformed_json_is_400_decoding_error(api, method, suffix, body):
    session_id = api.new_session()["sessionId"]
    for raw in (b"{not json", b'{"tracks": [', b"\xff\xfe"):
        status, code, _ = api.error(method, f"/sessions/{session_id}{suffix}", raw=raw)
        assert (status, code) == (400, "decoding_error"), raw
    status, code, _ = api.error("POST", "/sessions/new", raw=b"{oops")
    assert (status, code) == (400, "decoding_error")


@pytest.mark.parametrize(
    ("suffix", "method", "body", "path_in_error"),
    [
        ("/tracks/new", "POST", {"tracks": [{"location": "nearby"}]}, "$.tracks[0].location"),
        ("/tracks/new", "POST", {"tracks": "all"}, "$.tracks"),
        ("/tracks/new", "POST", [1, 2], "$"),
        ("/renegotiate", "PUT", {"sessionDescription": {"type": "pranswer"}}, "type"),
        ("/tracks/close", "PUT", {"tracks": [{"mid": "0"}]}, "force"),
        ("/tracks/close", "PUT", {"tracks": [], "force": True}, "$.tracks"),
        ("/tracks/close", "PUT", {"tracks": [{"mid": ""}], "force": True}, "$.tracks[0].mid"),
        ("/tracks/update", "PUT", {"tracks": [{"mid": 7}]}, "$.tracks[0].mid"),
    ],
)
def test_a_body_of_the_wrong_shape_is_400_decoding_error_naming_the_field(
    api, suffix, method, body, path_in_error
):
    session_id = api.new_session()["sessionId"]
    # Sent raw: the client-side schema check would (rightly) refuse to send it.
    status, code, description = api.error(
        method, f"/sessions/{session_id}{suffix}", raw=json.dumps(body).encode()
    )
    assert (status, code) == (400, "decoding_error")
    assert path_in_error in description


def test_an_empty_body_where_one_is_required_is_400(api):
    session_id = api.new_session()["sessionId"]
    status, code, _ = api.error("POST", f"/sessions/{session_id}/tracks/new", raw=b"")
    assert (status, code) == (400, "decoding_error")


def test_a_body_over_the_size_limit_is_413_payload_too_large(api):
    session_id = api.new_session()["sessionId"]
    huge = b'{"tracks": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, code, _ = api.error("POST", f"/sessions/{session_id}/tracks/new", raw=huge)
    assert (status, code) == (413, "payload_too_large")


def test_unknown_paths_and_unoffered_endpoints_answer_with_the_error_body(sfu, api):
    response = requests.get(f"{sfu.base_url}/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.json()["errorCode"] == "not_found"
    session_id = api.new_session()["sessionId"]
    status, code, _ = api.error(
        "POST", f"/sessions/{session_id}/datachannels/new", {"dataChannels": []}
    )
    assert (status, code) == (501, "not_implemented")


# --- tracks/new: push -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_push_with_an_offer_returns_an_answer(api):
    pc, offer, mids = await sendonly_offer(Camera(), Camera())
    try:
        session_id = (await call(api.new_session))["sessionId"]
        result = await call(
            api.tracks_new,
            session_id,
            {
                "sessionDescription": offer,
                "tracks": [
                    {"location": "local", "mid": mids[0], "trackName": "cam"},
                    {"location": "local", "mid": mids[1], "trackName": "screen"},
                ],
            },
        )
        assert result["requiresImmediateRenegotiation"] is False
        assert result["sessionDescription"]["type"] == "answer"
        assert result["tracks"] == [
            {"trackName": "cam", "mid": mids[0]},
            {"trackName": "screen", "mid": mids[1]},
        ]
        state = await call(api.state, session_id)
        assert state["tracks"] == [
            {"location": "local", "mid": mids[0], "trackName": "cam", "kind": "video",
             "status": "active"},
            {"location": "local", "mid": mids[1], "trackName": "screen", "kind": "video",
             "status": "active"},
        ]  # fmt: skip
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_push_reports_per_track_errors_inside_a_200(api):
    publisher = await publish(api, {"cam": Camera()})
    try:
        pc = publisher.pc
        pc.addTransceiver(Camera(), direction="sendonly")
        offer = await offer_for(pc)
        result = await call(
            api.tracks_new,
            publisher.session_id,
            {
                "sessionDescription": offer,
                "tracks": [
                    {"location": "local", "mid": "1", "trackName": "cam"},  # name taken
                    {"location": "local", "mid": "9", "trackName": "ghost"},  # no such mid
                    {"location": "local", "trackName": "nameless-mid"},
                ],
            },
        )
        codes = [t.get("errorCode") for t in result["tracks"]]
        assert codes == ["repeated_local_track_error", "invalid_params", "invalid_params"]
        assert all(t["errorDescription"] for t in result["tracks"])
        assert result["sessionDescription"]["type"] == "answer"
    finally:
        await publisher.pc.close()


@pytest.mark.asyncio
async def test_push_with_auto_discover_names_every_new_track(api):
    pc, offer, mids = await sendonly_offer(Camera(), Camera())
    try:
        session_id = (await call(api.new_session))["sessionId"]
        result = await call(
            api.tracks_new, session_id, {"sessionDescription": offer, "autoDiscover": True}
        )
        assert [t["mid"] for t in result["tracks"]] == mids
        assert all(len(t["trackName"]) == 36 for t in result["tracks"])  # uuids
    finally:
        await pc.close()


@pytest.mark.asyncio
async def test_push_without_an_offer_gets_an_sfu_offer(api):
    pc = new_peer()
    try:
        session_id = (await call(api.new_session))["sessionId"]
        result = await call(
            api.tracks_new,
            session_id,
            {
                "tracks": [
                    {"location": "local", "trackName": "mic", "kind": "audio"},
                    {"location": "local", "trackName": "nokind"},
                ]
            },
        )
        assert result["requiresImmediateRenegotiation"] is True
        assert result["sessionDescription"]["type"] == "offer"
        assert result["tracks"][0] == {"trackName": "mic", "mid": "0"}
        assert result["tracks"][1]["errorCode"] == "invalid_params"
        # Until the endpoint answers, the track has no media: pulling it is an item error.
        other = (await call(api.new_session))["sessionId"]
        pulled = await call(
            api.tracks_new,
            other,
            {"tracks": [{"location": "remote", "sessionId": session_id, "trackName": "mic"}]},
        )
        assert pulled["tracks"][0]["errorCode"] == "empty_track_error"
        assert pulled["requiresImmediateRenegotiation"] is False
    finally:
        await pc.close()


def test_a_request_mixing_local_and_remote_tracks_is_406(api):
    session_id = api.new_session()["sessionId"]
    status, code, _ = api.error(
        "POST",
        f"/sessions/{session_id}/tracks/new",
        {
            "tracks": [
                {"location": "local", "trackName": "a", "kind": "audio"},
                {"location": "remote", "sessionId": session_id, "trackName": "b"},
            ]
        },
    )
    assert (status, code) == (406, "invalid_params")
    assert api.error("POST", f"/sessions/{session_id}/tracks/new", {"tracks": []})[:2] == (
        406,
        "invalid_params",
    )


# --- tracks/new: pull, and renegotiate ------------------------------------------------------


def test_pulling_a_track_that_does_not_exist_is_an_item_error_in_a_200(api):
    owner = api.new_session()["sessionId"]
    player = api.new_session()["sessionId"]
    result = api.tracks_new(
        player,
        {
            "tracks": [
                {"location": "remote", "sessionId": owner, "trackName": "nobody"},
                {"location": "remote", "sessionId": "0" * 32, "trackName": "cam"},
            ]
        },
    )
    assert result["requiresImmediateRenegotiation"] is False
    assert "sessionDescription" not in result
    assert [t["errorCode"] for t in result["tracks"]] == ["not_found_track_error"] * 2
    assert result["tracks"][0]["trackName"] == "nobody"
    assert api.state(player)["tracks"] == []


@pytest.mark.asyncio
async def test_pull_gets_an_sfu_offer_with_new_mids_and_renegotiate_takes_the_answer(api):
    publisher = await publish(api, {"cam": Camera(), "cam2": Camera()})
    player_pc = new_peer()
    try:
        player = (await call(api.new_session))["sessionId"]
        result = await call(
            api.tracks_new,
            player,
            {
                "tracks": [
                    {"location": "remote", "sessionId": publisher.session_id, "trackName": "cam"},
                    {"location": "remote", "sessionId": publisher.session_id, "trackName": "gone"},
                    {"location": "remote", "sessionId": publisher.session_id, "trackName": "cam2",
                     "kind": "video"},
                ]
            },
        )  # fmt: skip
        assert result["requiresImmediateRenegotiation"] is True
        offer = result["sessionDescription"]
        assert offer["type"] == "offer"
        assert candidate_addresses(offer["sdp"]) == {"127.0.0.1"}
        first, missing, second = result["tracks"]
        assert first == {"sessionId": publisher.session_id, "trackName": "cam", "mid": "0"}
        assert second == {"sessionId": publisher.session_id, "trackName": "cam2", "mid": "1"}
        assert missing["errorCode"] == "not_found_track_error"

        # Another mutation before the answer is refused: the offer/answer order is wrong.
        status, code, _ = await call(
            api.error,
            "POST",
            f"/sessions/{player}/tracks/new",
            {"tracks": [{"location": "remote", "sessionId": publisher.session_id,
                         "trackName": "cam"}]},
        )  # fmt: skip
        assert (status, code) == (406, "invalid_session_description")

        await answer_sfu_offer(api, player_pc, player, offer)
        state = await call(api.state, player)
        assert [(t["location"], t["mid"], t["status"]) for t in state["tracks"]] == [
            ("remote", "0", "active"),
            ("remote", "1", "active"),
        ]
        assert all(t["sessionId"] == publisher.session_id for t in state["tracks"])
        # The answer has been taken: a second one has no offer to answer.
        status, code, _ = await call(
            api.error,
            "PUT",
            f"/sessions/{player}/renegotiate",
            {"sessionDescription": {"type": "answer", "sdp": player_pc.localDescription.sdp}},
        )
        assert (status, code) == (406, "invalid_session_description")
    finally:
        await publisher.pc.close()
        await player_pc.close()


def test_renegotiate_needs_a_session_description(api):
    session_id = api.new_session()["sessionId"]
    status, code, _ = api.error("PUT", f"/sessions/{session_id}/renegotiate", {})
    assert (status, code) == (406, "invalid_params")


@pytest.mark.asyncio
async def test_renegotiate_answers_an_endpoint_offer(api):
    publisher = await publish(api, {"cam": Camera()})
    try:
        publisher.pc.addTransceiver(Camera(), direction="sendonly")
        offer = await offer_for(publisher.pc)
        result = await call(api.renegotiate, publisher.session_id, {"sessionDescription": offer})
        assert result["sessionDescription"]["type"] == "answer"
    finally:
        await publisher.pc.close()


# --- tracks/close, tracks/update, session state ----------------------------------------------


@pytest.mark.asyncio
async def test_forced_close_reports_each_mid_and_leaves_tracks_listed_inactive(api):
    publisher = await publish(api, {"cam": Camera()})
    player, mids = await play(api, publisher.session_id, "cam")
    try:
        result = await call(
            api.close_tracks,
            player.session_id,
            {"tracks": [{"mid": mids[0]}, {"mid": "42"}], "force": True},
        )
        assert result == {
            "requiresImmediateRenegotiation": False,
            "tracks": [
                {"mid": mids[0]},
                {
                    "mid": "42",
                    "errorCode": "close_track_error",
                    "errorDescription": "Track doesn't exist or was already closed",
                },
            ],
        }
        assert await call(api.statuses, player.session_id) == {mids[0]: "inactive"}
        # Closing it again: already closed.
        again = await call(
            api.close_tracks, player.session_id, {"tracks": [{"mid": mids[0]}], "force": True}
        )
        assert again["tracks"][0]["errorCode"] == "close_track_error"
        # The publisher's track is untouched.
        assert await call(api.statuses, publisher.session_id) == {"0": "active"}
    finally:
        await publisher.pc.close()
        await player.pc.close()


def test_a_negotiated_close_needs_the_endpoint_offer(api):
    session_id = api.new_session()["sessionId"]
    status, code, description = api.error(
        "PUT", f"/sessions/{session_id}/tracks/close", {"tracks": [{"mid": "0"}], "force": False}
    )
    assert (status, code) == (406, "invalid_params")
    assert "offer" in description
    status, code, _ = api.error(
        "PUT",
        f"/sessions/{session_id}/tracks/close",
        {
            "tracks": [{"mid": "0"}],
            "force": True,
            "sessionDescription": {"type": "offer", "sdp": "v=0"},
        },
    )
    assert (status, code) == (406, "invalid_params")


@pytest.mark.asyncio
async def test_update_moves_a_pulled_transceiver_to_another_track(api):
    first = await publish(api, {"cam": Camera()})
    second = await publish(api, {"cam": Camera()})
    player, mids = await play(api, first.session_id, "cam")
    try:
        result = await call(
            api.update_tracks,
            player.session_id,
            {
                "tracks": [
                    {"location": "remote", "mid": mids[0], "sessionId": second.session_id,
                     "trackName": "cam", "simulcast": {"preferredRid": "h"}},
                    {"location": "remote", "mid": "77", "sessionId": second.session_id,
                     "trackName": "cam"},
                    {"location": "remote", "mid": mids[0], "sessionId": second.session_id,
                     "trackName": "missing"},
                ]
            },
        )  # fmt: skip
        assert result["requiresImmediateRenegotiation"] is False
        moved, no_mid, missing = result["tracks"]
        assert moved == {
            "sessionId": second.session_id,
            "trackName": "cam",
            "mid": mids[0],
            "simulcast": {"preferredRid": "h"},
        }
        assert no_mid["errorCode"] == "update_track_error"
        assert missing["errorCode"] == "not_found_track_error"
        (track,) = (await call(api.state, player.session_id))["tracks"]
        assert track["sessionId"] == second.session_id
        assert track["status"] == "active"
    finally:
        for pc in (first.pc, second.pc, player.pc):
            await pc.close()


def test_update_needs_tracks(api):
    session_id = api.new_session()["sessionId"]
    assert api.error("PUT", f"/sessions/{session_id}/tracks/update", {"tracks": []})[:2] == (
        406,
        "invalid_params",
    )


# --- TURN stand-in ---------------------------------------------------------------------------


def _turn(sfu, key_id: str, token: str, body) -> requests.Response:
    api = CallsApi(sfu.base_url, APP_ID, token)
    path = f"/turn/keys/{key_id}/credentials/generate-ice-servers"
    return api.request("POST", path, body)


def test_generate_ice_servers_returns_a_working_loopback_stun_server(sfu):
    response = _turn(sfu, TURN_KEY_ID, TURN_KEY_TOKEN, {"ttl": 86400})
    assert response.status_code == 201
    (server,) = response.json()["iceServers"]
    (url,) = server["urls"]
    assert url.startswith("stun:127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])

    # The STUN server answers a Binding request with our own address.
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(bytes(request), ("127.0.0.1", port))
        reply = stun.parse_message(sock.recv(2048))
        assert reply.message_class == stun.Class.RESPONSE
        assert reply.transaction_id == request.transaction_id
        assert reply.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()


def test_generate_ice_servers_errors(sfu):
    assert _turn(sfu, TURN_KEY_ID, "wrong", {"ttl": 60}).json()["errorCode"] == "unauthorized"
    assert _turn(sfu, TURN_KEY_ID, "wrong", {"ttl": 60}).status_code == 401
    unknown = _turn(sfu, "no-such-key", TURN_KEY_TOKEN, {"ttl": 60})
    assert (unknown.status_code, unknown.json()["errorCode"]) == (404, "not_found")
    api = CallsApi(sfu.base_url, APP_ID, TURN_KEY_TOKEN)
    path = f"/turn/keys/{TURN_KEY_ID}/credentials/generate-ice-servers"
    for raw in (b'{"ttl": "long"}', b"{}", b"{broken"):
        response = api.request("POST", path, raw=raw)
        assert (response.status_code, response.json()["errorCode"]) == (400, "decoding_error")


@pytest.mark.asyncio
async def test_closed_sessions_are_listed_for_a_while_then_forgotten(api, monkeypatch):
    publisher = await publish(api, {"cam": Camera()})

    async def until_connected() -> None:
        while publisher.pc.connectionState != "connected":
            await asyncio.sleep(0.05)

    await asyncio.wait_for(until_connected(), 10)
    await publisher.pc.close()

    async def until_closed() -> None:
        while (await call(api.statuses, publisher.session_id)) != {"0": "inactive"}:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(until_closed(), 10)
    monkeypatch.setattr("standins.calls_sfu.core.CLOSED_SESSION_RETENTION_SECONDS", 0)
    await call(api.new_session)  # creating a session forgets the expired ones
    status, code, _ = await call(api.error, "GET", f"/sessions/{publisher.session_id}")
    assert (status, code) == (410, "session_error")
