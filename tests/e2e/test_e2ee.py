"""End-to-end encrypted visits (docs/e2ee.md) in two Chromiums, in both media modes: the call
plays with every stream encrypted, both pages read the same safety number, a reload makes a new
one, equal on both sides; a tampering relay is reported, never shown as clear media; a browser
that cannot encrypt cannot join a visit that requires it."""

import pytest

from tests.e2e.conftest import _start_clinic
from tests.e2e.visit import (
    FRAMES_DECODED,
    HOOK,
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    frames_grow,
    join_as_doctor_and_patient,
    screenshot,
    wait_until,
)

pytestmark = pytest.mark.slow

ENCRYPTED = f"() => {HOOK}.e2ee.encrypted"


@pytest.fixture
def e2ee_clinic(tmp_path, demo_clinic_database, media_mode):
    yield from _start_clinic(tmp_path, demo_clinic_database, {**media_mode, "E2EE": "required"})


def _until_encrypted(*pages) -> None:
    for page in pages:
        try:
            page.wait_for_function(ENCRYPTED, timeout=TIMEOUT)
        except Exception as error:  # say where encryption stands on each page
            states = [_e2ee(p) | {"transceivers": p.evaluate(TRANSCEIVERS)} for p in pages]
            raise AssertionError(f"not encrypted: {states}") from error


TRANSCEIVERS = """() => window.clinicMeetTestHook.connections().map(({pc}) => pc.getTransceivers()
    .map(t => ({mid: t.mid, current: t.currentDirection, sending: t.sender.track?.kind || null,
                encrypting: !!t.sender.transform, decrypting: !!t.receiver.transform})))"""


def _e2ee(page) -> dict:
    return page.evaluate(f"() => {HOOK}.e2ee")


def _same_safety_number(doctor, patient, *, other_than: str | None = None) -> str:
    """Waits until both pages show one safety number (a new one, when `other_than` is given)."""
    script = f"""(other) => {{
        const e2ee = {HOOK}.e2ee;
        return e2ee.encrypted && e2ee.safetyNumber && e2ee.safetyNumber !== other
            && e2ee.members.length === 2 ? e2ee.safetyNumber : null;
    }}"""
    number = wait_until(doctor, script, other_than)
    wait_until(patient, f"(n) => ({script})(null) === n", number)
    return number


def test_an_encrypted_visit_plays_with_one_safety_number_and_a_new_one_after_a_reload(
    e2ee_clinic, browser, media_mode
):
    doctor, patient, _ = join_as_doctor_and_patient(browser, e2ee_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    _until_encrypted(doctor, patient)
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        frames_grow(page)
        # The other side's (beeping) microphone is heard, decrypted.
        page.wait_for_selector(".tile--remote.tile--speaking", timeout=TIMEOUT)
        assert "End-to-end encrypted" in page.text_content("#e2ee-bar")
    number = _same_safety_number(doctor, patient)
    assert len(number) == 9 and number[4] == " " and number.replace(" ", "").isdigit()
    assert patient.text_content("#e2ee-safety-number") == number
    state = _e2ee(doctor)
    # Every stream in and out went through the worker: audio and video, both ways.
    directions = {(s["direction"], s["kind"]) for s in state["streams"] if s["stats"]["frames"]}
    assert directions == {
        ("encrypt", "audio"),
        ("encrypt", "video"),
        ("decrypt", "audio"),
        ("decrypt", "video"),
    }
    assert {m["role"] for m in state["members"]} == {"doctor", "patient"}
    assert state["decryptFailures"] == 0 and state["mlsFailures"] == 0
    # A screen share replaces the camera on the same, still encrypted, sender.
    patient.click("#toggle-screen")
    doctor.wait_for_function(
        "() => [...document.querySelectorAll('.video--remote')].some(v => v.videoWidth >= 1280)",
        timeout=TIMEOUT,
    )
    frames_grow(doctor)
    assert _e2ee(doctor)["decryptFailures"] == 0 and _e2ee(doctor)["encrypted"]
    patient.click("#toggle-screen")

    # Recording runs in the doctor's browser, on the decrypted call; its dialog says what
    # leaves the encrypted call.
    doctor.click("#record-button")
    patient.wait_for_selector("#recording-consent[open]", timeout=TIMEOUT)
    assert "end-to-end encrypted, but a recording is not" in patient.text_content(
        "#recording-consent-detail"
    )
    patient.click("#recording-allow")
    wait_until(doctor, f"() => ({HOOK}.recorder?.chunks || 0) >= 2")
    doctor.click("#recording-stop")
    doctor.click("#e2ee-verify")
    doctor.wait_for_selector("#e2ee-verified:not([hidden])")
    screenshot(doctor, f"e2ee-{(media_mode.get('CALLS_APP_ID') and 'calls') or 'p2p'}-doctor")

    # The patient reloads: a new page, a new member, a new epoch and a new number on both sides.
    patient.reload()
    _until_encrypted(patient, doctor)
    renewed = _same_safety_number(doctor, patient, other_than=number)
    assert renewed != number
    assert _e2ee(doctor)["changed"] is True and _e2ee(doctor)["verified"] is False
    doctor.wait_for_selector("#e2ee-changed:not([hidden])")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        frames_grow(page)

    # The doctor reloads: the new page makes a new group, which the patient's page joins.
    doctor.reload()
    _until_encrypted(doctor, patient)
    assert _same_safety_number(doctor, patient, other_than=renewed) not in (number, renewed)
    for page in (doctor, patient):
        frames_grow(page)


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_the_doctor_turns_it_on_mid_call(live_clinic, browser, media_mode):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        assert _e2ee(page)["state"] == "off"
        assert "Not end-to-end encrypted" in page.text_content("#e2ee-bar")
    # Without encryption the room page never loads the MLS code.
    assert not doctor.evaluate(
        "() => performance.getEntriesByType('resource').some(r => r.name.includes('mls.bundle'))"
    )
    doctor.click("#e2ee-turn-on")
    _until_encrypted(doctor, patient)
    for page in (doctor, patient):
        frames_grow(page)
    _same_safety_number(doctor, patient)


@pytest.fixture
def tampering_clinic(tmp_path, demo_clinic_database):
    """A server whose room sockets flip a byte in every MLS message they relay."""
    from tests.live_server import LiveServer, development_environment

    env = development_environment(
        SQLITE_PATH=str(demo_clinic_database),
        MEDIA_ROOT=str(tmp_path / "media"),
        ICE_SERVERS="stun:127.0.0.1:9",
        E2EE="required",
    )
    app = "tests.e2e.tampering_asgi:application"
    with LiveServer(env, tmp_path / "daphne.log", app=app) as server:
        yield server.http_url


def test_a_relay_that_alters_mls_messages_is_reported_and_no_media_plays(tampering_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, tampering_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    # The doctor gets the patient's altered key package: refused, and said so.
    wait_until(doctor, f"() => {HOOK}.e2ee.state === 'failed'")
    assert "failed verification" in doctor.text_content("#e2ee-problem")
    assert not _e2ee(patient)["encrypted"] and not _e2ee(doctor)["encrypted"]
    # Nobody's media went out in the clear meanwhile: nothing was decoded on either side.
    for page in (doctor, patient):
        assert page.evaluate(FRAMES_DECODED) == 0
        assert "End-to-end encrypted" not in page.text_content("#e2ee-text")


UNSUPPORTED_BROWSER = """
delete window.RTCRtpScriptTransform;
delete RTCRtpSender.prototype.createEncodedStreams;
"""


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_a_browser_without_the_apis_cannot_start_a_visit_that_requires_it(
    e2ee_clinic, browser, media_mode
):
    from tests.e2e.visit import sign_in

    patient = sign_in(browser, e2ee_clinic, "hanako", "patient-demo-pass")
    patient.context.add_init_script(UNSUPPORTED_BROWSER)
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    patient.goto(e2ee_clinic + room_path)
    patient.wait_for_selector("#e2ee-unsupported:not([hidden])", timeout=TIMEOUT)
    assert "cannot encrypt" in patient.text_content("#e2ee-unsupported")
    assert patient.is_disabled("#join-button")
    assert patient.evaluate(f"() => {HOOK}.socketOpen") is False


class VideoTap:
    """What the local SFU forwards of VP8 video, reassembled into frames as a decoder gets them
    (RTP payloads less their payload descriptor, joined per RTP timestamp), per forwarded stream."""

    def __init__(self) -> None:
        self.packets: list[tuple[int, int, bytes]] = []  # (forwarded stream, RTP time, payload)
        self.recording = False

    def streams(self) -> dict[int, list[tuple[bool, bytes]]]:
        """Each stream's frames from its first key frame on, as (key frame?, bytes)."""
        from standins.calls_sfu.fanout import vp8_frame_start

        frames: dict[int, dict[int, list]] = {}
        for stream, timestamp, payload in self.packets:
            offset, key_frame = vp8_frame_start(payload)
            frame = frames.setdefault(stream, {}).setdefault(timestamp, [None, b""])
            if key_frame is not None:
                frame[0] = key_frame
            frame[1] += payload[offset:]
        streams = {}
        for stream, by_time in frames.items():
            ordered = [(key is True, data) for key, data in by_time.values()]
            first_key = next((i for i, (key, _) in enumerate(ordered) if key), None)
            if first_key is not None:
                streams[stream] = ordered[first_key:]
        return streams

    def decodable(self, *, leaving_out=()) -> tuple[int, int]:
        """(frames PyAV's VP8 decoder took, frames it refused), one decoder per stream."""
        import av

        decoded = refused = 0
        for stream, frames in self.streams().items():
            if stream in leaving_out:
                continue
            decoder = av.CodecContext.create("vp8", "r")
            for _, frame in frames:
                try:
                    decoded += len(decoder.decode(av.Packet(frame)))
                except av.error.FFmpegError:
                    refused += 1
        return decoded, refused


@pytest.fixture
def tapped_calls_clinic(tmp_path, demo_clinic_database, monkeypatch):
    """Calls mode through the local SFU, E2EE=optional, with a tap on the video it forwards."""
    from standins.calls_sfu import fanout
    from standins.calls_sfu.server import start_in_thread

    tap = VideoTap()
    forward = fanout.SubscriberTrack.forward

    async def tapped_forward(self, publication, packet, codec):
        if tap.recording and codec.mimeType.lower() == "video/vp8" and len(tap.packets) < 4000:
            tap.packets.append((id(self), packet.timestamp, bytes(packet.payload)))
        return await forward(self, publication, packet, codec)

    monkeypatch.setattr(fanout.SubscriberTrack, "forward", tapped_forward)
    sfu = start_in_thread(app_id="e2e-app", app_secret="e2e-secret-never-in-the-browser")
    env = {
        "CALLS_APP_ID": "e2e-app",
        "CALLS_APP_SECRET": "e2e-secret-never-in-the-browser",
        "CALLS_API_URL": sfu.base_url,
        "E2EE": "optional",
    }
    try:
        for base in _start_clinic(tmp_path, demo_clinic_database, env):
            yield base, tap
    finally:
        sfu.stop()


def test_through_the_sfu_encrypted_video_cannot_be_decoded_and_clear_video_can(
    tapped_calls_clinic, browser
):
    base, tap = tapped_calls_clinic
    doctor, patient, _ = join_as_doctor_and_patient(browser, base)
    tap.recording = True  # from the start: a decoder starts at a key frame
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        frames_grow(page, by=30)
    clear_streams = set(tap.streams())
    clear_decoded, clear_refused = tap.decodable()
    # The SFU's own decoder reads clear video (so the tap and the reassembly work).
    assert clear_decoded >= 30 and clear_refused <= 2, (clear_decoded, clear_refused)

    # The doctor turns encryption on mid-call: the media starts over on new connections.
    tap.packets.clear()
    doctor.click("#e2ee-turn-on")
    _until_encrypted(doctor, patient)
    for page in (doctor, patient):
        frames_grow(page, by=30)  # the browsers, holding the key, decode it
    tap.recording = False
    encrypted = {s: f for s, f in tap.streams().items() if s not in clear_streams}
    frames = sum(len(f) for f in encrypted.values())
    assert len(encrypted) == 2 and frames >= 30, (len(encrypted), frames)
    decoded, refused = tap.decodable(leaving_out=clear_streams)
    # Without the key, the forwarded frames are noise to a decoder: refused, but for a few
    # that a VP8 decoder takes without complaint (and makes garbage of).
    assert refused >= 0.8 * frames, (decoded, refused, frames)


@pytest.fixture
def tampering_sfu_clinic(tmp_path, demo_clinic_database):
    """Calls mode through the local SFU with --tamper-media: a byte of every forwarded frame's
    encrypted part flipped."""
    from standins.calls_sfu.server import start_in_thread

    sfu = start_in_thread(app_id="e2e-app", app_secret="e2e-secret", tamper_media=True)
    env = {
        "CALLS_APP_ID": "e2e-app",
        "CALLS_APP_SECRET": "e2e-secret",
        "CALLS_API_URL": sfu.base_url,
        "E2EE": "required",
    }
    try:
        yield from _start_clinic(tmp_path, demo_clinic_database, env)
    finally:
        sfu.stop()


def test_media_altered_on_its_way_is_reported_and_blocked(tampering_sfu_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, tampering_sfu_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        # The keys were agreed (MLS is fine); the frames are not.
        wait_until(page, f"() => {HOOK}.e2ee.safetyNumber")
        wait_until(page, f"() => {HOOK}.e2ee.state === 'failed'")
        assert "altered" in page.text_content("#e2ee-text")
        wait_until(page, f"() => {HOOK}.e2ee.decryptFailures > 20")
        state = _e2ee(page)
        assert not state["encrypted"]
        decrypting = [s["stats"] for s in state["streams"] if s["direction"] == "decrypt"]
        # What failed to authenticate was dropped, never handed to the decoder.
        assert sum(s["failures"]["auth_failed"] for s in decrypting if s) > 20
        assert all(s["dropped"] >= sum(s["failures"].values()) for s in decrypting if s)
