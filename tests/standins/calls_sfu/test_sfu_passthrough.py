"""The local SFU forwards RTP without decoding it, as Cloudflare Calls does: a publisher sends
ready-encoded VP8 and Opus whose bytes after the clear header are random (as end-to-end
encrypted frames are, and as no decoder could decode), and a subscriber gets every RTP payload
bit for bit, rewritten only in its RTP header. Payloads are compared whole, VP8 payload
descriptor included: what aiortc's sender put on the wire against what the subscriber's
receiver was handed."""

import asyncio
import itertools

import pytest
from aiortc import RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from sfu_testkit import (
    APP_ID,
    APP_SECRET,
    TURN_KEY_ID,
    TURN_KEY_TOKEN,
    CallsApi,
    Camera,
    KnownAudio,
    KnownVideo,
    call,
    capture_received,
    description,
    new_peer,
    offer_for,
    play,
    publish,
    record_sent_payloads,
    until,
)

from standins.calls_sfu.server import start_in_thread

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

FRAMES = 20  # video frames (key frame first) a subscriber must receive


@pytest.fixture(scope="module")
def tampering_sfu():
    """A second SFU, started with tamper_media (what --tamper-media sets)."""
    server = start_in_thread(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        turn_key_id=TURN_KEY_ID,
        turn_key_token=TURN_KEY_TOKEN,
        tamper_media=True,
    )
    yield server
    server.stop()


def run_of(sent: list[bytes], received: list[bytes]) -> int:
    """Where `received` sits in `sent`, as one contiguous run (else the assertion fails)."""
    assert received, "nothing received"
    start = sent.index(received[0])
    assert sent[start : start + len(received)] == received
    return start


def is_vp8_key_frame_start(payload: bytes) -> bool:
    descriptor, rest = VpxPayloadDescriptor.parse(payload)
    return bool(descriptor.partition_start) and not rest[0] & 1


async def pull_known_media(api: CallsApi, publisher, *names: str):
    """A player pulls `names`; its receivers capture instead of decoding."""
    player, mids = await play(api, publisher.session_id, *names)
    return player, [capture_received(player.transceiver(mid)) for mid in mids]


def sfu_senders(sfu, session_id: str):
    session = sfu.server.sfu.sessions[session_id]
    return [t.sender for t in session.pc.getTransceivers()]


async def close_all(*pcs) -> None:
    for pc in pcs:
        await pc.close()


async def test_payloads_reach_a_subscriber_bit_for_bit_and_nothing_is_decoded(api, sfu):
    video, audio = KnownVideo(), KnownAudio()
    publisher = await publish(api, {"cam": video, "mic": audio})
    sent = record_sent_payloads(publisher.pc)
    # The publisher is well under way (its first key frame long gone) when the subscriber joins.
    await until(lambda: len(sent[publisher.mids["cam"]]) >= 10)
    player, (got_video, got_audio) = await pull_known_media(api, publisher, "cam", "mic")
    try:
        await until(lambda: sum(p.marker for p in got_video) >= FRAMES and len(got_audio) >= 50)
        video_run = [p.payload for p in got_video]
        audio_run = [p.payload for p in got_audio]
        run_of(sent[publisher.mids["cam"]], video_run)
        run_of(sent[publisher.mids["mic"]], audio_run)
        # The subscriber starts at a key frame: the one its joining asked the publisher for.
        assert is_vp8_key_frame_start(video_run[0])
        assert video.key_frame_requests >= 1

        # Only the header is the subscriber's own: its sender's SSRC and payload types,
        # consecutive sequence numbers.
        senders = {s.kind: s for s in sfu_senders(sfu, player.session_id)}
        for packets, mid in ((got_video, player.mids[0]), (got_audio, player.mids[1])):
            transceiver = player.transceiver(mid)
            assert {p.ssrc for p in packets} == {senders[transceiver.kind]._ssrc}
            # The SFU offered the publisher's codec only, and no RTX.
            (codec,) = transceiver._codecs
            assert codec.mimeType in ("video/VP8", "audio/opus")
            assert {p.payload_type for p in packets} == {codec.payloadType}
            seqs = [p.sequence_number for p in packets]
            assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))

        # Nothing was decoded nor encoded on the SFU: no encoder on its senders, every frame
        # aiortc reassembled for the publications dropped, and no worker pool ever started on
        # its loop (aiortc encodes and decodes on worker threads).
        assert {s._RTCRtpSender__encoder for s in senders.values()} == {None}
        publisher_session = sfu.server.sfu.sessions[publisher.session_id]
        publications = [t.publication for t in publisher_session.tracks]
        assert all(p.frames_dropped.frames_dropped > 0 for p in publications)
        assert all(p.source._queue.empty() for p in publications)
        assert sfu.call(lambda: asyncio.get_running_loop()._default_executor) is None
    finally:
        await close_all(publisher.pc, player.pc)


async def test_a_switch_keeps_the_subscriber_timeline_and_forwards_the_new_bytes(api):
    one, two = KnownVideo(seed=11), KnownVideo(seed=12)
    first = await publish(api, {"cam": one})
    second = await publish(api, {"cam": two})
    sent_one, sent_two = record_sent_payloads(first.pc)["0"], record_sent_payloads(second.pc)["0"]
    player, (got,) = await pull_known_media(api, first, "cam")
    try:
        await until(lambda: sum(p.marker for p in got) >= 5)
        before = len(got)
        body = {"tracks": [{"location": "remote", "mid": player.mids[0],
                            "sessionId": second.session_id, "trackName": "cam"}]}  # fmt: skip
        (result,) = (await call(api.update_tracks, player.session_id, body))["tracks"]
        assert "errorCode" not in result
        await until(lambda: len(got) > before and sum(p.marker for p in got[before:]) >= 5)
        switch = next(i for i, p in enumerate(got) if p.payload not in sent_one)
        run_of(sent_one, [p.payload for p in got[:switch]])
        run_of(sent_two, [p.payload for p in got[switch:]])
        assert is_vp8_key_frame_start(got[switch].payload)
        seqs = [p.sequence_number for p in got]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(got)]
        assert all(step < 1 << 31 for step in steps)  # never backwards
        assert steps[switch - 1] > 0  # the new stream starts later than the old one ended
    finally:
        await close_all(first.pc, second.pc, player.pc)


async def test_a_subscriber_key_frame_request_reaches_the_publisher(api):
    video = KnownVideo()
    publisher = await publish(api, {"cam": video})
    sent = record_sent_payloads(publisher.pc)["0"]
    await until(lambda: len(sent) >= 10)  # the publisher's first key frame is long gone
    player, (got,) = await pull_known_media(api, publisher, "cam")
    try:
        # Joining asks for a key frame; the subscriber starts with it.
        await until(lambda: video.key_frame_requests >= 1 and sum(p.marker for p in got) >= 3)
        assert is_vp8_key_frame_start(got[0].payload)
        asked = video.key_frame_requests
        # Once playing, the SFU asks for no key frame by itself...
        await asyncio.sleep(0.5)
        assert video.key_frame_requests == asked
        # ... but a PLI from the subscriber reaches the publisher, and so does a key frame.
        receiver = player.transceiver(player.mids[0]).receiver
        keys_before = sum(is_vp8_key_frame_start(p.payload) for p in got)
        await receiver._send_rtcp_pli(got[0].ssrc)
        await until(lambda: video.key_frame_requests > asked)
        await until(lambda: sum(is_vp8_key_frame_start(p.payload) for p in got) > keys_before)
    finally:
        await close_all(publisher.pc, player.pc)


async def test_a_pull_its_negotiation_cannot_carry_is_refused_per_track(api):
    publisher = await publish(api, {"cam": KnownVideo()})
    # A session whose own SDP offered video in H264 only cannot take forwarded VP8.
    pc = new_peer()
    h264 = [c for c in pc.addTransceiver(Camera(160, 120), "sendonly").sender.getCapabilities(
        "video").codecs if c.mimeType == "video/H264"]  # fmt: skip
    pc.getTransceivers()[0].setCodecPreferences(h264)
    session_id = (await call(api.new_session))["sessionId"]
    pushed = await call(
        api.tracks_new,
        session_id,
        {"sessionDescription": await offer_for(pc),
         "tracks": [{"location": "local", "mid": "0", "trackName": "h264"}]},
    )  # fmt: skip
    try:
        await pc.setRemoteDescription(RTCSessionDescription(**pushed["sessionDescription"]))
        body = {"tracks": [{"location": "remote", "sessionId": publisher.session_id,
                            "trackName": "cam"}]}  # fmt: skip
        result = await call(api.tracks_new, session_id, body)
        (item,) = result["tracks"]
        assert item["errorCode"] == "invalid_params"
        assert "video/VP8" in item["errorDescription"]
        assert result["requiresImmediateRenegotiation"] is False

        # A transceiver playing VP8 cannot be switched to an H264 track either.
        player, (mid,) = await play(api, publisher.session_id, "cam")
        update = {"tracks": [{"location": "remote", "mid": mid, "sessionId": session_id,
                              "trackName": "h264"}]}  # fmt: skip
        (item,) = (await call(api.update_tracks, player.session_id, update))["tracks"]
        assert item["errorCode"] == "update_track_error"
        assert "video/H264" in item["errorDescription"]
        await player.pc.close()
    finally:
        await close_all(publisher.pc, pc)


async def test_tamper_media_flips_exactly_the_byte_it_documents(tampering_sfu):
    api = CallsApi(tampering_sfu.base_url, APP_ID, APP_SECRET)
    publisher = await publish(api, {"cam": KnownVideo(), "mic": KnownAudio()})
    sent = record_sent_payloads(publisher.pc)
    player, (got_video, got_audio) = await pull_known_media(api, publisher, "cam", "mic")
    try:
        await until(lambda: sum(p.marker for p in got_video) >= 10 and len(got_audio) >= 20)

        def expected_offset(kind: str, payload: bytes) -> int:
            if kind == "audio":
                return 1  # past Opus's one clear byte (the TOC)
            descriptor, rest = VpxPayloadDescriptor.parse(payload)
            offset = len(payload) - len(rest)
            if descriptor.partition_start:  # a frame's first packet: past its clear bytes
                offset += 3 if rest[0] & 1 else 10
            return offset

        for kind, packets in (("video", got_video), ("audio", got_audio)):
            originals = sent[publisher.mids["cam" if kind == "video" else "mic"]]
            for packet in packets:
                # The original of each received payload: same length, all but one byte equal.
                (original,) = [
                    s for s in originals if len(s) == len(packet.payload)
                    and sum(a != b for a, b in zip(s, packet.payload, strict=True)) == 1
                ]  # fmt: skip
                (where,) = [i for i, (a, b) in enumerate(zip(original, packet.payload,
                            strict=True)) if a != b]  # fmt: skip
                assert where == expected_offset(kind, original), (kind, where)
                assert packet.payload[where] == original[where] ^ 0xFF
    finally:
        await close_all(publisher.pc, player.pc)


async def test_a_renegotiation_that_drops_the_codec_deactivates_what_plays_on_it(api):
    # The endpoint publishes through an SFU-offered sendrecv transceiver, plays another VP8
    # camera on it, then offers that transceiver again in H264 only.
    other = await publish(api, {"cam": KnownVideo()})
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
        transceiver.sender.replaceTrack(KnownVideo(seed=5))
        await pc.setLocalDescription(await pc.createAnswer())
        await call(api.renegotiate, session_id, {"sessionDescription": description(pc)})
        body = {"tracks": [{"location": "remote", "mid": "#me", "sessionId": other.session_id,
                            "trackName": "cam", "kind": "video"}]}  # fmt: skip
        (pulled,) = (await call(api.tracks_new, session_id, body))["tracks"]
        assert "errorCode" not in pulled
        assert {t["location"]: t["status"] for t in (await call(api.state, session_id))
                ["tracks"]} == {"local": "active", "remote": "active"}  # fmt: skip

        h264 = [c for c in transceiver.sender.getCapabilities("video").codecs
                if c.mimeType == "video/H264"]  # fmt: skip
        transceiver.setCodecPreferences(h264)
        result = await call(
            api.renegotiate, session_id, {"sessionDescription": await offer_for(pc)}
        )
        await pc.setRemoteDescription(RTCSessionDescription(**result["sessionDescription"]))
        assert {t["location"]: t["status"] for t in (await call(api.state, session_id))
                ["tracks"]} == {"local": "active", "remote": "inactive"}  # fmt: skip
    finally:
        await close_all(other.pc, pc)
