"""Doctor and patient meet in the visit room, in real Chromium with fake devices.

Each step is checked as the other person would notice it: the video really plays
(videoWidth > 0 and decoded frames growing in getStats), mute and camera-off show on the other
side's tile, chat arrives both ways, a dropped WebSocket heals without a reload, and ending the
visit ends it on both pages.
"""

import pytest

from tests.e2e.visit import (
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    doctor_admits_the_patient,
    frames_grow,
    join_as_doctor_and_patient,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.slow


def test_doctor_and_patient_see_hear_and_chat(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    screenshot(patient, "patient-waiting")
    doctor.click("#waiting-list button:has-text('Admit')")

    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
        frames_grow(page)
        # The visit details follow the visit: rendered "Checked in", now under way.
        page.wait_for_selector("#visit-status:text-is('In progress')", timeout=TIMEOUT)

    # The clinic's camera limits reach the page and the video sender.
    limits = doctor.evaluate("""async () => {
        const config = JSON.parse(document.getElementById('room-config').textContent).media;
        const c = window.clinicMeet.calls;
        const senders = c ? c.pushPc.getSenders()
            : [...window.clinicMeet.peers.values()].flatMap(p => p.link.pc.getSenders());
        const video = senders.find(s => s.track && s.track.kind === 'video');
        const encoding = video.getParameters().encodings[0];
        return {config, maxBitrate: encoding.maxBitrate, maxFramerate: encoding.maxFramerate,
                height: video.track.getSettings().height};
    }""")
    assert limits["maxBitrate"] == limits["config"]["maxBitrate"] == 1_200_000
    assert limits["maxFramerate"] == limits["config"]["maxFramerate"] == 24
    assert limits["height"] <= limits["config"]["maxHeight"]
    # The fake microphone beeps: the speaking indicator lights on the other side's tile.
    doctor.wait_for_selector(".tile--remote.tile--speaking", timeout=TIMEOUT)

    # The doctor's sidebar shows the chart, allergies first.
    assert "Penicillin" in doctor.text_content("#patient-sidebar")

    patient.click("#toggle-mic")
    doctor.wait_for_selector(".tile--remote figcaption:has-text('microphone off')", timeout=TIMEOUT)
    patient.click("#toggle-camera")
    doctor.wait_for_selector(".tile--remote figcaption:has-text('camera off')", timeout=TIMEOUT)
    patient.click("#toggle-camera")
    patient.click("#toggle-mic")
    doctor.wait_for_selector(".tile--remote figcaption:text-is('Hanako Suzuki')", timeout=TIMEOUT)

    doctor.fill("#chat-input", "Good morning, Hanako")
    doctor.press("#chat-input", "Enter")
    patient.wait_for_selector(".chat__text:has-text('Good morning, Hanako')", timeout=TIMEOUT)
    patient.fill("#chat-input", "Morning, doctor")
    patient.press("#chat-input", "Enter")
    doctor.wait_for_selector(".chat__text:has-text('Morning, doctor')", timeout=TIMEOUT)

    # Screen sharing replaces the camera on the other side, and says so on the tile.
    patient.click("#toggle-screen")
    doctor.wait_for_selector(".tile--remote figcaption:has-text('sharing screen')", timeout=TIMEOUT)
    doctor.wait_for_function(
        "() => [...document.querySelectorAll('.video--remote')].some(v => v.videoWidth >= 1280)",
        timeout=TIMEOUT,
    )
    patient.click("#toggle-screen")
    doctor.wait_for_selector(".tile--remote figcaption:text-is('Hanako Suzuki')", timeout=TIMEOUT)

    # A dropped socket reconnects by itself; the call and the chat go on, no reload. The page
    # was admitted before the drop too: wait for the new connection's entry (a new
    # participant id), admitted again.
    before = patient.evaluate("() => window.clinicMeet.me.participant_id")
    patient.evaluate("() => window.clinicMeet.socket.drop()")
    patient.wait_for_function(
        "(before) => window.clinicMeet.socket.ws.readyState === WebSocket.OPEN"
        " && window.clinicMeet.me.participant_id !== before"
        " && window.clinicMeet.me.status === 'admitted'",
        arg=before,
        timeout=TIMEOUT,
    )
    patient.fill("#chat-input", "Back again")
    patient.press("#chat-input", "Enter")
    doctor.wait_for_selector(".chat__text:has-text('Back again')", timeout=TIMEOUT)
    frames_grow(doctor)

    doctor.fill("#note-subjective", "Fatigue for three weeks.")
    doctor.wait_for_function(
        "() => document.getElementById('notes-status').textContent.startsWith('Saved')",
        timeout=TIMEOUT,
    )
    mode = "calls" if doctor.evaluate("() => !!window.clinicMeet.calls") else "p2p"
    screenshot(doctor, f"doctor-view-{mode}")
    screenshot(patient, f"patient-view-{mode}")
    assert "never-in-the-browser" not in doctor.content() + patient.content()

    doctor.on("dialog", lambda dialog: dialog.accept())
    doctor.click("#end-button")
    for page in (doctor, patient):
        page.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
        assert page.text_content("#visit-status") == "Completed"
    assert "ended the visit" in patient.text_content("#ended-reason")


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_a_second_patient_is_refused(live_clinic, browser):
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    other = sign_in(browser, live_clinic, "james", "patient-demo-pass")
    response = other.goto(live_clinic + room_path)
    assert response.status == 404
    assert "room-config" not in other.content()  # no room, no chart, no socket address
    # Nor does the socket let them in, whatever they send.
    code = other.evaluate(
        """path => new Promise(resolve => {
            const ws = new WebSocket(`ws://${location.host}/ws/rooms/${path.split('/')[2]}/`);
            ws.onclose = event => resolve(event.code);
        })""",
        room_path,
    )
    assert code == 4403


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_the_room_works_by_keyboard_on_a_phone_sized_screen(live_clinic, browser):
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    patient.set_viewport_size({"width": 390, "height": 844})
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    patient.goto(live_clinic + room_path)
    patient.wait_for_selector("#join-button:enabled")
    # No horizontal scrolling on a phone.
    assert patient.evaluate("() => document.documentElement.scrollWidth") <= 390
    # Every control has an accessible name; the join button is reachable with Tab alone.
    for control in patient.query_selector_all("#room button, #room select, #room input"):
        if control.is_visible():
            label = control.evaluate(
                "el => el.labels?.[0]?.textContent || el.getAttribute('aria-label')"
                " || el.textContent"
            )
            assert label and label.strip(), control.evaluate("el => el.outerHTML")
    for _ in range(40):
        patient.keyboard.press("Tab")
        if patient.evaluate("() => document.activeElement.id") == "join-button":
            break
    else:
        pytest.fail("Join visit cannot be reached with the keyboard")
    patient.keyboard.press("Enter")
    patient.wait_for_selector("#waiting:not([hidden])", timeout=TIMEOUT)
    screenshot(patient, "patient-waiting-phone")


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_the_chosen_speaker_plays_the_visit_and_is_remembered(live_clinic, browser):
    # Chromium's fake devices include three audio outputs: the default and two others.
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    patient.goto(live_clinic + room_path)
    patient.wait_for_selector("#join-button:enabled")
    assert patient.is_visible("#speaker-select")
    first = patient.select_option("#speaker-select", label="Fake Audio Output 1")[0]
    patient.click("#speaker-test")
    patient.wait_for_selector("#speaker-test-hint:has-text('Did you hear a tone')")
    assert patient.evaluate("() => window.clinicMeet.testSound.sinkId") == first

    patient.click("#join-button")
    patient.wait_for_selector("#waiting:not([hidden])")
    doctor = doctor_admits_the_patient(browser, live_clinic, room_path)
    sink_of_remote_video = "() => document.querySelector('.video--remote')?.sinkId"
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    patient.wait_for_function(f"() => ({sink_of_remote_video})() === '{first}'", timeout=TIMEOUT)
    # Each person's choice is their own: the doctor's page plays through the default output.
    assert doctor.evaluate(sink_of_remote_video) in {"", "default"}

    # Headphones on mid-call: the in-call picker switches the output at once.
    assert patient.is_visible("#call-speaker-select")
    second = patient.select_option("#call-speaker-select", label="Fake Audio Output 2")[0]
    assert second != first
    patient.wait_for_function(f"() => ({sink_of_remote_video})() === '{second}'", timeout=TIMEOUT)

    # A reload goes straight back into the visit, through the speaker chosen last.
    patient.reload()
    patient.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    patient.wait_for_function(f"() => ({sink_of_remote_video})() === '{second}'", timeout=TIMEOUT)
    assert patient.input_value("#call-speaker-select") == second


@pytest.mark.parametrize("media_mode", ["calls"], indirect=True)
def test_through_calls_the_room_follows_reconnects_reloads_and_leaving(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    patient_entry = "() => window.clinicMeet.participants.find(p => p.role === 'patient')"
    old_entry = doctor.evaluate(patient_entry)
    announced = old_entry["session_id"]
    assert announced

    # The patient's socket drops and reconnects (a new room entry): the page announces its
    # Calls session again, so a doctor who reloads afterwards still gets the patient's video.
    # The doctor saw that session before the drop: wait for the patient's new entry (a new
    # participant id) to carry it.
    patient.evaluate("() => window.clinicMeet.socket.drop()")
    patient.wait_for_function(
        "(before) => window.clinicMeet.socket.ws.readyState === WebSocket.OPEN"
        " && window.clinicMeet.me.participant_id !== before",
        arg=old_entry["participant_id"],
        timeout=TIMEOUT,
    )
    doctor.wait_for_function(
        f"([before, session]) => {{ const p = ({patient_entry})();"
        " return !!p && p.participant_id !== before && p.session_id === session; }",
        arg=[old_entry["participant_id"], announced],
        timeout=TIMEOUT,
    )
    doctor.reload()
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    frames_grow(doctor)

    # The patient leaves: the doctor's page stops pulling their tracks and drops the tile.
    patient.click("#leave-button")
    doctor.wait_for_selector(".tile--remote", state="detached", timeout=TIMEOUT)
    doctor.wait_for_function("() => window.clinicMeet.calls.pulled.size === 0", timeout=TIMEOUT)
    doctor.wait_for_selector("#alone:not([hidden])", timeout=TIMEOUT)

    # And comes back: a new Calls session, pulled on the doctor's same connection.
    patient.goto(patient.url)
    patient.click("#join-button")
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    frames_grow(doctor)


@pytest.mark.parametrize("media_mode", ["calls"], indirect=True)
def test_through_calls_a_removed_patient_is_dropped_at_once(live_clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    assert doctor.evaluate("() => window.clinicMeet.calls.pulled.size") > 0
    doctor.click("#participant-list button:has-text('Remove')")
    # The doctor's page stops pulling the patient's tracks and drops the tile at once, not
    # after the grace a reconnect gets (the server closed the patient's sessions meanwhile).
    doctor.wait_for_function("() => window.clinicMeet.calls.pulled.size === 0", timeout=2_000)
    doctor.wait_for_selector(".tile--remote", state="detached", timeout=2_000)
    patient.wait_for_selector("#ended:not([hidden])", timeout=TIMEOUT)
    assert patient.text_content("#ended-reason") == "The doctor removed you from the visit."
