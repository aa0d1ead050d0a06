"""The doctor's note in the room once the visit is completed: the server refuses saves for good
(later changes are addenda), and the page says so instead of retrying."""

import pytest

from tests.e2e.visit import TIMEOUT, join_as_doctor_and_patient, sign_in

pytestmark = pytest.mark.slow

# What a second tab of the doctor's would do: save the note on top of the latest version.
SAVE_ELSEWHERE = """async (plan) => {
    const url = JSON.parse(document.getElementById('room-config').textContent).notesUrl;
    const saved = await (await fetch(url)).json();
    const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
    const response = await fetch(url, {
        method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
        body: JSON.stringify({...saved, plan, version: saved.version}),
    });
    if (!response.ok) throw new Error(`save elsewhere: ${response.status}`);
}"""


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_the_note_says_it_is_closed_once_the_visit_is_completed(live_clinic, browser):
    doctor, _, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_selector("#visit-status:text-is('In progress')", timeout=TIMEOUT)
    doctor.fill("#note-subjective", "Fatigue for three weeks.")
    doctor.wait_for_function(
        "() => document.getElementById('notes-status').textContent.startsWith('Saved')",
        timeout=TIMEOUT,
    )

    # A save from elsewhere (another tab) still reads as a conflict, with the saved version
    # offered: only a completed visit closes the note.
    doctor.evaluate(SAVE_ELSEWHERE, "Saved in another tab.")
    doctor.fill("#note-objective", "Pale.")
    doctor.wait_for_selector("#notes-status:has-text('changed elsewhere')", timeout=TIMEOUT)
    doctor.click("#notes-reload")
    doctor.wait_for_selector("#notes-status:text-is('Loaded the saved version.')", timeout=TIMEOUT)
    assert doctor.input_value("#note-plan") == "Saved in another tab."

    doctor.on("dialog", lambda dialog: dialog.accept())
    doctor.click("#end-button")
    doctor.wait_for_selector("#visit-status:text-is('Completed')", timeout=TIMEOUT)

    doctor.fill("#note-plan", "Typed after the end.")
    doctor.wait_for_selector(
        "#notes-status:has-text('The visit is completed; add an addendum instead.')",
        timeout=TIMEOUT,
    )
    assert "copy it into an addendum" in doctor.text_content("#notes-status")
    assert doctor.evaluate("() => document.getElementById('note-plan').readOnly")
    assert doctor.is_hidden("#notes-reload")
    # Nothing left to retry, and nothing kept on the device that no page would restore.
    assert doctor.evaluate("() => Object.keys(localStorage).every(k => !k.includes(':note:'))")


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_a_server_error_is_retried_but_a_refused_save_is_not(live_clinic, browser):
    """A 5xx may heal: the page says the server had a problem and tries again. A 403 (or 400)
    will not change by sending the same text again: the page says it was refused, never "no
    connection", and stops."""
    patient = sign_in(browser, live_clinic, "hanako", "patient-demo-pass")
    room_path = patient.get_attribute("a:has-text('Join')", "href")
    doctor = sign_in(browser, live_clinic, "dr.tanaka", "doctor-demo-pass")
    answers = [503, 403]
    saves = []

    def answer_saves(route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        saves.append(route.request.post_data_json)
        status = answers[min(len(saves), len(answers)) - 1]
        route.fulfill(status=status, json={"detail": f"Refused with {status}."})

    doctor.route("**/api/appointments/*/notes/", answer_saves)
    doctor.goto(live_clinic + room_path)
    doctor.click("#join-button")
    doctor.fill("#note-subjective", "Headache since Monday.")
    doctor.wait_for_selector("#notes-status:has-text('the server had a problem')", timeout=TIMEOUT)
    doctor.wait_for_selector("#notes-status:has-text('Refused with 403.')", timeout=TIMEOUT)
    status = doctor.text_content("#notes-status")
    assert "no connection" not in status and "retrying" not in status
    assert len(saves) == 2 and saves[1]["subjective"] == "Headache since Monday."
    # No retry comes: waiting past the retry delay (3 s) sends nothing more.
    doctor.wait_for_timeout(4_000)
    assert len(saves) == 2
    # The text stays on this device until a save gets through.
    assert doctor.evaluate("() => Object.keys(localStorage).some(k => k.includes(':note:'))")


# What any other editor of the note (a second tab, a replayed save) would send after signing.
SAVE_AFTER_SIGNING = """async () => {
    const url = JSON.parse(document.getElementById('room-config').textContent).notesUrl;
    const saved = await (await fetch(url)).json();
    const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
    const response = await fetch(url, {
        method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
        body: JSON.stringify({...saved, plan: 'Changed after signing', version: saved.version}),
    });
    return {status: response.status, body: await response.json()};
}"""


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_signing_makes_the_note_read_only_and_later_changes_are_addenda(live_clinic, browser):
    doctor, _, _ = join_as_doctor_and_patient(browser, live_clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_selector("#visit-status:text-is('In progress')", timeout=TIMEOUT)
    assert doctor.is_hidden("#addendum-form")
    doctor.fill("#note-assessment", "Viral pharyngitis.")

    # Signing saves what is typed first: the doctor signs what they see.
    doctor.on("dialog", lambda dialog: dialog.accept())
    doctor.click("#notes-sign")
    doctor.wait_for_selector(
        "#note-signature-slot:has-text('Signed by Dr. Aiko Tanaka')", timeout=TIMEOUT
    )
    assert "SHA-256" in doctor.text_content("#note-signature-slot")
    assert doctor.is_hidden("#notes-sign")
    assert doctor.evaluate(
        "() => [...document.querySelectorAll('#notes-form textarea')].every(a => a.readOnly)"
    )
    refused = doctor.evaluate(SAVE_AFTER_SIGNING)
    assert (refused["status"], refused["body"]["code"]) == (409, "note_signed")

    doctor.fill("#addendum-text", "Rapid strep test negative.")
    doctor.click("#addendum-add")
    doctor.wait_for_selector("#note-addenda li:has-text('Rapid strep test negative.')")
    assert "Addendum added" in doctor.text_content("#addendum-status")

    # A reload shows the same from the server: signed, read-only, the addendum with its hash.
    doctor.reload()
    doctor.wait_for_selector("#note-signature-slot:has-text('Signed by Dr. Aiko Tanaka')")
    assert doctor.input_value("#note-assessment") == "Viral pharyngitis."
    assert doctor.evaluate("() => document.getElementById('note-assessment').readOnly")
    assert doctor.is_visible("#addendum-form")
    assert "Rapid strep test negative." in doctor.text_content("#note-addenda")
    assert "SHA-256" in doctor.text_content("#note-addenda")
