"""Before and around the call, in real Chromium: the pre-call check explains blocked or
missing devices (and a patient without any still sees the doctor), recovers, the microphone
meter moves, people can join with camera and microphone off, a
waiting patient keeps their place across a reload, and the doctor's Deny and Remove, and the
patient's Leave, end the visit for that patient with a reason."""

import time

import pytest

from tests.e2e.visit import (
    HOOK,
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    doctor_admits_the_patient,
    frames_grow,
    join_as_doctor_and_patient,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)]


def _room_path(page):
    return page.get_attribute("a:has-text('Join')", "href")


def test_blocked_devices_are_explained_and_try_again_recovers(live_clinic, browser_that_asks):
    patient = sign_in(browser_that_asks, live_clinic, "hanako", "patient-demo-pass")
    patient.goto(live_clinic + _room_path(patient))
    patient.wait_for_selector("#device-problem:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#device-problem-title") == "Camera and microphone are blocked"
    assert "choose Allow" in patient.text_content("#device-problem-help")
    # Joining without devices stays possible.
    assert patient.is_enabled("#join-button")
    screenshot(patient, "precall-blocked")

    patient.context.grant_permissions(["camera", "microphone"], origin=live_clinic)
    patient.click("#device-retry")
    patient.wait_for_selector("#device-problem", state="hidden", timeout=TIMEOUT)
    patient.wait_for_function(
        "() => document.getElementById('preview').videoWidth > 0", timeout=TIMEOUT
    )
    assert patient.eval_on_selector("#camera-select", "s => s.options.length") >= 1


def test_without_any_device_the_patient_is_told_and_still_sees_the_doctor(
    live_clinic, browser, browser_without_devices
):
    patient = sign_in(browser_without_devices, live_clinic, "hanako", "patient-demo-pass")
    room_path = _room_path(patient)
    patient.goto(live_clinic + room_path)
    patient.wait_for_selector("#device-problem:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#device-problem-title") == "No camera or microphone found"
    assert "join with camera and microphone off" in patient.text_content("#device-problem-help")
    patient.click("#join-button")
    patient.wait_for_selector("#waiting:not([hidden])", timeout=TIMEOUT)

    doctor = doctor_admits_the_patient(browser, live_clinic, room_path)
    doctor.wait_for_selector(
        ".tile--remote figcaption:has-text('microphone off, camera off')", timeout=TIMEOUT
    )
    # Receiving needs no devices: the patient sees and hears the doctor.
    patient.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    frames_grow(patient)
    patient.wait_for_selector(".tile--remote.tile--speaking", timeout=TIMEOUT)


def test_joining_with_camera_and_microphone_off(live_clinic, browser):
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    room_path = _room_path(patient)
    patient.goto(live_clinic + room_path)
    patient.wait_for_selector("#join-button:enabled")
    # The fake microphone beeps: the level meter moves before anyone joins.
    patient.wait_for_function(
        "() => document.getElementById('mic-level').value > 0.05", timeout=TIMEOUT
    )
    patient.check("#join-camera-off")
    patient.check("#join-mic-off")
    patient.click("#join-button")
    patient.wait_for_selector("#waiting:not([hidden])")

    doctor = doctor_admits_the_patient(browser, live_clinic, room_path)
    doctor.wait_for_selector(
        ".tile--remote figcaption:has-text('microphone off, camera off')", timeout=TIMEOUT
    )
    assert patient.text_content("#self-state") == " — muted, camera off"
    assert patient.get_attribute("#toggle-mic", "aria-pressed") == "true"
    # Turning the camera on later reaches the doctor as video.
    patient.click("#toggle-camera")
    doctor.wait_for_selector(".tile--remote figcaption:has-text('microphone off')", timeout=TIMEOUT)
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)


def test_a_waiting_patient_keeps_their_place_and_can_leave(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    patient.reload()
    patient.wait_for_selector("#waiting:not([hidden])", timeout=TIMEOUT)
    # Still one patient waiting, not a second entry for the reloaded page.
    doctor.wait_for_function(
        "() => document.querySelectorAll('#waiting-list li').length === 1", timeout=TIMEOUT
    )
    assert "(1 waiting)" in doctor.title()

    doctor.click("#waiting-list button:has-text('Admit')")
    patient.wait_for_selector("#call:not([hidden])", timeout=TIMEOUT)
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    patient.click("#leave-button")
    patient.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#ended-reason") == "You left the visit."
    # The doctor's page lets the tile go (after a grace period meant for reconnects).
    doctor.wait_for_selector(".tile--remote", state="detached", timeout=TIMEOUT)
    doctor.wait_for_selector("#alone:not([hidden])", timeout=TIMEOUT)


def test_the_doctor_can_deny_a_waiting_patient(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Deny')")
    patient.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#ended-reason") == "The doctor did not let you in."
    doctor.wait_for_function(
        "() => document.querySelectorAll('#waiting-list li').length === 0", timeout=TIMEOUT
    )


def test_the_doctor_can_remove_an_admitted_patient(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    doctor.click("#participant-list button:has-text('Remove')")
    patient.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#ended-reason") == "The doctor removed you from the visit."
    doctor.wait_for_selector(".tile--remote", state="detached", timeout=TIMEOUT)


def test_a_removed_patient_is_cut_off_at_once_not_after_the_leave_grace(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    # The doctor's connection to the patient, kept to look at after the page lets it go.
    doctor.evaluate(f"() => {{ window.removedPc = {HOOK}.connections()[0].pc }}")
    doctor.click("#participant-list button:has-text('Remove')")
    started = time.monotonic()
    # Closed by the doctor's page itself (signalingState "closed" only follows pc.close()),
    # well within the 8 s grace a reconnect gets.
    doctor.wait_for_function("() => window.removedPc.signalingState === 'closed'", timeout=2_000)
    closed_after = time.monotonic() - started
    assert closed_after < 2, closed_after
    assert doctor.evaluate(f"() => {HOOK}.remoteCount") == 0
    assert doctor.query_selector(".tile--remote") is None
    patient.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#ended-reason") == "The doctor removed you from the visit."
