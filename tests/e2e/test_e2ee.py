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
