"""The local SFU really forwards media: aiortc endpoints publish and play through it over
loopback, as browsers do through Calls, and the player decodes the frames it receives."""

import asyncio

import pytest
from aiortc import AudioStreamTrack, RTCSessionDescription
from sfu_testkit import (
    WAIT,
    Camera,
    call,
    description,
    frames,
    new_peer,
    offer_for,
    play,
    publish,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def close_all(*pcs) -> None:
    for pc in pcs:
        await pc.close()


async def packets_stop(player, mid: str) -> bool:
    """Whether no RTP arrives on `mid` for a second (after in-flight packets land)."""
    await asyncio.sleep(0.3)
    before = await player.packets_received(mid)
    await asyncio.sleep(1.0)
    return await player.packets_received(mid) == before


async def packets_flow(player, mid: str) -> bool:
    before = await player.packets_received(mid)
    await asyncio.sleep(0.5)
    return await player.packets_received(mid) > before


async def test_a_pulled_video_and_audio_track_arrive_decoded(api):
    camera = Camera(320, 240)
    publisher = await publish(api, {"cam": camera, "mic": AudioStreamTrack()})
    player, (video_mid, audio_mid) = await play(api, publisher.session_id, "cam", "mic")
    try:
        received = await frames(player.track(video_mid), 10)
        assert all((f.width, f.height) == (320, 240) for f in received)
        assert len({f.pts for f in received}) == 10  # ten distinct frames, not one repeated
        sounds = await frames(player.track(audio_mid), 10)
        assert all(f.sample_rate > 0 and f.samples > 0 for f in sounds)
        assert camera.sent >= 10
    finally:
        await close_all(publisher.pc, player.pc)


async def test_every_player_of_a_track_receives_it(api):
    publisher = await publish(api, {"cam": Camera(160, 120)})
    first, (first_mid,) = await play(api, publisher.session_id, "cam")
    second, (second_mid,) = await play(api, publisher.session_id, "cam")
    try:
        got_first, got_second = await asyncio.gather(
            frames(first.track(first_mid), 5), frames(second.track(second_mid), 5)
        )
        assert {(f.width, f.height) for f in got_first + got_second} == {(160, 120)}
    finally:
        await close_all(publisher.pc, first.pc, second.pc)


async def test_a_second_pull_on_a_connected_session_renegotiates(api):
    one = await publish(api, {"cam": Camera(320, 240)})
    two = await publish(api, {"cam": Camera(160, 120)})
    player, (mid_one,) = await play(api, one.session_id, "cam")
    try:
        await frames(player.track(mid_one), 3)
        player, (mid_two,) = await play(api, two.session_id, "cam", player=player)
        assert mid_two != mid_one
        (frame,) = await frames(player.track(mid_two), 1)
        assert (frame.width, frame.height) == (160, 120)
        (frame,) = await frames(player.track(mid_one), 1)
        assert (frame.width, frame.height) == (320, 240)
    finally:
        await close_all(one.pc, two.pc, player.pc)


async def test_closing_a_pulled_track_stops_forwarding_it(api):
    publisher = await publish(api, {"cam": Camera()})
    player, (mid,) = await play(api, publisher.session_id, "cam")
    try:
        await frames(player.track(mid), 3)
        assert await packets_flow(player, mid)
        result = await call(
            api.close_tracks, player.session_id, {"tracks": [{"mid": mid}], "force": True}
        )
        assert result["tracks"] == [{"mid": mid}]
        assert await packets_stop(player, mid)
        assert await call(api.statuses, player.session_id) == {mid: "inactive"}
        # The publication goes on: a new player still gets it.
        again, (again_mid,) = await play(api, publisher.session_id, "cam")
        await frames(again.track(again_mid), 3)
        await again.pc.close()
    finally:
        await close_all(publisher.pc, player.pc)


async def test_closing_a_published_track_stops_it_for_every_player(api):
    publisher = await publish(api, {"cam": Camera()})
    player, (mid,) = await play(api, publisher.session_id, "cam")
    try:
        await frames(player.track(mid), 3)
        result = await call(
            api.close_tracks,
            publisher.session_id,
            {"tracks": [{"mid": publisher.mids["cam"]}], "force": True},
        )
        assert result["tracks"] == [{"mid": publisher.mids["cam"]}]
        assert await packets_stop(player, mid)
        assert await call(api.statuses, publisher.session_id) == {"0": "inactive"}
        assert await call(api.statuses, player.session_id) == {mid: "inactive"}
        # A closed publication can no longer be pulled.
        other = (await call(api.new_session))["sessionId"]
        pulled = await call(
            api.tracks_new,
            other,
            {"tracks": [{"location": "remote", "sessionId": publisher.session_id,
                         "trackName": "cam"}]},
        )  # fmt: skip
        assert pulled["tracks"][0]["errorCode"] == "not_found_track_error"
    finally:
        await close_all(publisher.pc, player.pc)


async def test_a_negotiated_close_answers_the_endpoint_offer(api):
    publisher = await publish(api, {"cam": Camera()})
    player, (mid,) = await play(api, publisher.session_id, "cam")
    try:
        await frames(player.track(mid), 3)
        player.transceiver(mid).direction = "inactive"
        offer = await offer_for(player.pc)
        result = await call(
            api.close_tracks,
            player.session_id,
            {"tracks": [{"mid": mid}], "force": False, "sessionDescription": offer},
        )
        assert result["requiresImmediateRenegotiation"] is False
        assert result["tracks"] == [{"mid": mid}]
        answer = result["sessionDescription"]
        assert answer["type"] == "answer"
        await player.pc.setRemoteDescription(RTCSessionDescription(**answer))
        assert player.pc.signalingState == "stable"
        assert await packets_stop(player, mid)
        assert await call(api.statuses, player.session_id) == {mid: "inactive"}
    finally:
        await close_all(publisher.pc, player.pc)


async def test_update_switches_what_a_transceiver_plays(api):
    big = await publish(api, {"cam": Camera(320, 240)})
    small = await publish(api, {"cam": Camera(160, 120)})
    small_too = await publish(api, {"cam": Camera(160, 120)})
    player, (mid,) = await play(api, big.session_id, "cam")
    try:
        (frame,) = await frames(player.track(mid), 1)
        assert (frame.width, frame.height) == (320, 240)
        result = await call(
            api.update_tracks,
            player.session_id,
            {"tracks": [{"location": "remote", "mid": mid, "sessionId": small.session_id,
                         "trackName": "cam"}]},
        )  # fmt: skip
        assert result["tracks"] == [{"sessionId": small.session_id, "trackName": "cam", "mid": mid}]

        async def until_small() -> None:
            while True:
                (frame,) = await frames(player.track(mid), 1)
                if (frame.width, frame.height) == (160, 120):
                    return

        await asyncio.wait_for(until_small(), WAIT)

        # Back and forth between two publications of one size: the sender's encoder carries
        # on (no new keyframe size), and forwarding must survive each switch.
        for publisher in (small_too, small, small_too):
            item = {"location": "remote", "mid": mid, "sessionId": publisher.session_id}
            body = {"tracks": [item | {"trackName": "cam"}]}
            (result,) = (await call(api.update_tracks, player.session_id, body))["tracks"]
            assert "errorCode" not in result
            await asyncio.sleep(0.2)
            assert await packets_flow(player, mid)
        (track,) = (await call(api.state, player.session_id))["tracks"]
        assert (track["sessionId"], track["status"]) == (small_too.session_id, "active")
    finally:
        await close_all(big.pc, small.pc, small_too.pc, player.pc)


async def test_a_track_pushed_through_an_sfu_offer_can_be_played(api):
    # tracks/new with a kind and no SDP: the SFU offers a receiving transceiver, the endpoint
    # answers with its camera on it.
    pc = new_peer()
    session_id = (await call(api.new_session))["sessionId"]
    result = await call(
        api.tracks_new,
        session_id,
        {"tracks": [{"location": "local", "trackName": "cam", "kind": "video"}]},
    )
    assert result["requiresImmediateRenegotiation"] is True
    (pushed,) = result["tracks"]
    await pc.setRemoteDescription(RTCSessionDescription(**result["sessionDescription"]))
    (transceiver,) = pc.getTransceivers()
    assert transceiver.mid == pushed["mid"]
    transceiver.direction = "sendonly"
    transceiver.sender.replaceTrack(Camera(160, 120))
    await pc.setLocalDescription(await pc.createAnswer())
    assert await call(api.renegotiate, session_id, {"sessionDescription": description(pc)}) == {}
    player, (mid,) = await play(api, session_id, "cam")
    try:
        received = await frames(player.track(mid), 5)
        assert {(f.width, f.height) for f in received} == {(160, 120)}
    finally:
        await close_all(pc, player.pc)


async def test_a_publisher_that_leaves_ends_its_tracks(api, sfu):
    publisher = await publish(api, {"cam": Camera()})
    player, (mid,) = await play(api, publisher.session_id, "cam")
    try:
        await frames(player.track(mid), 3)
        await publisher.pc.close()

        async def until_inactive() -> None:
            while (await call(api.statuses, publisher.session_id)) != {"0": "inactive"}:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(until_inactive(), WAIT)
        assert await call(api.statuses, player.session_id) == {mid: "inactive"}
        status, code, _ = await call(
            api.error,
            "PUT",
            f"/sessions/{publisher.session_id}/tracks/close",
            {"tracks": [{"mid": "0"}], "force": True},
        )
        assert (status, code) == (410, "session_error")
    finally:
        await close_all(publisher.pc, player.pc)


async def test_media_flows_with_an_answered_offer_from_the_player_too(api):
    # The player, not the SFU, offers a renegotiation (e.g. to change a direction): the SFU
    # answers through PUT renegotiate and forwarding goes on.
    publisher = await publish(api, {"cam": Camera()})
    player, (mid,) = await play(api, publisher.session_id, "cam")
    try:
        await frames(player.track(mid), 2)
        offer = await offer_for(player.pc)
        result = await call(api.renegotiate, player.session_id, {"sessionDescription": offer})
        await player.pc.setRemoteDescription(RTCSessionDescription(**result["sessionDescription"]))
        assert player.pc.signalingState == "stable"
        assert await packets_flow(player, mid)
    finally:
        await close_all(publisher.pc, player.pc)


async def test_a_track_pulled_into_a_bidirectional_transceiver_plays_on_it(api):
    # The endpoint publishes its camera through an SFU-offered sendrecv transceiver, then pulls
    # another publisher's camera into that same transceiver ("#<trackName>"): no renegotiation.
    other = await publish(api, {"cam": Camera(160, 120)})
    pc = new_peer()
    try:
        session_id = (await call(api.new_session))["sessionId"]
        offered = await call(
            api.tracks_new,
            session_id,
            {"tracks": [{"location": "local", "trackName": "me", "kind": "video",
                         "bidirectionalMediaStream": True}]},
        )  # fmt: skip
        await pc.setRemoteDescription(RTCSessionDescription(**offered["sessionDescription"]))
        (transceiver,) = pc.getTransceivers()
        transceiver.direction = "sendrecv"
        transceiver.sender.replaceTrack(Camera(320, 240))
        await pc.setLocalDescription(await pc.createAnswer())
        await call(api.renegotiate, session_id, {"sessionDescription": description(pc)})

        pulled = await call(
            api.tracks_new,
            session_id,
            {"tracks": [{"location": "remote", "mid": "#me", "sessionId": other.session_id,
                         "trackName": "cam", "kind": "video"}]},
        )  # fmt: skip
        assert pulled["requiresImmediateRenegotiation"] is False
        assert "sessionDescription" not in pulled
        assert pulled["tracks"] == [
            {"sessionId": other.session_id, "trackName": "cam", "mid": transceiver.mid}
        ]
        received = await frames(transceiver.receiver.track, 3)
        assert {(f.width, f.height) for f in received} == {(160, 120)}
        state = await call(api.state, session_id)
        assert [(t["location"], t["mid"], t.get("bidirectionalMediaStream")) for t in
                state["tracks"]] == [("local", "0", True), ("remote", "0", True)]  # fmt: skip
        # Closing the mid closes both directions.
        closed = await call(api.close_tracks, session_id, {"tracks": [{"mid": "0"}], "force": True})
        assert closed["tracks"] == [{"mid": "0"}]
        assert {t["status"] for t in (await call(api.state, session_id))["tracks"]} == {"inactive"}
    finally:
        await close_all(other.pc, pc)
