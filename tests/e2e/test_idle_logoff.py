"""Automatic logoff and sign-out in the browser, with a short timeout (SESSION_IDLE_MINUTES=0.5:
30 s, the warning 15 s before). An idle page warns in an alert dialog ("Stay signed in", which
has the focus); staying, in any tab, holds off every tab's warning; left alone, the page lands
on the login page saying why. A doctor in a call past the timeout stays signed in. Signing out,
by hand or by the timeout, clears the note drafts this browser kept, not the remembered devices
or the recordings' chunks in IndexedDB. The admin's pages warn alike and land on its sign-in."""

import pytest

from tests.e2e.conftest import _start_clinic
from tests.e2e.visit import (
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    csp_violations,
    join_as_doctor_and_patient,
    sign_in,
    wait_until,
    watched_page,
)

pytestmark = pytest.mark.slow

IDLE_SECONDS = 30
# Long enough for the whole timeout to pass while a test waits for what should come of it.
PAST_THE_TIMEOUT = (IDLE_SECONDS + 15) * 1000
WARNING = "#session-timeout[open]"
STORED = """() => ({
    drafts: Object.keys(localStorage).filter((key) => key.startsWith("clinic-meet:note:")),
    devices: localStorage.getItem("clinic-meet:devices") !== null,
})"""
RECORDING_DATABASES = """async () => (await indexedDB.databases())
    .map((db) => db.name).filter((name) => name === "clinic-meet-recording")"""


@pytest.fixture
def clinic(tmp_path, demo_clinic_database):
    yield from _start_clinic(
        tmp_path, demo_clinic_database, {"SESSION_IDLE_MINUTES": str(IDLE_SECONDS / 60)}
    )


def _seconds_left(page, base: str) -> float:
    answer = page.context.request.get(f"{base}/session/").json()
    return answer["secondsLeft"] if answer["signedIn"] else 0


def test_an_idle_page_warns_stay_signed_in_extends_and_then_it_signs_out(clinic, browser):
    first = sign_in(browser, clinic, "hanako", "patient-demo-pass")
    second = first.context.new_page()
    second.goto(clinic + "/book/")

    # The warning, as an alert dialog with the focus on its button, in both tabs.
    for page in (first, second):
        page.wait_for_selector(WARNING, timeout=PAST_THE_TIMEOUT)
    assert first.get_attribute("#session-timeout", "role") == "alertdialog"
    assert first.evaluate("() => document.activeElement.id") == "session-stay"
    assert "you will be signed out in" in first.text_content("#session-timeout")

    # Staying in one tab holds off the other's warning too (each asks the server).
    second.click("#session-stay")
    for page in (first, second):
        page.wait_for_selector(WARNING, state="hidden", timeout=TIMEOUT)
    assert _seconds_left(first, clinic) > 15

    # Left alone, both land on the login page, which says why.
    second.close()
    first.wait_for_selector(WARNING, timeout=PAST_THE_TIMEOUT)
    first.wait_for_url(f"{clinic}/accounts/login/?next=%2F", timeout=PAST_THE_TIMEOUT)
    assert "signed out after 30 seconds without activity" in first.text_content(".messages")
    first.goto(clinic + "/")
    assert first.url.startswith(f"{clinic}/accounts/login/")


def test_a_doctor_in_a_call_past_the_timeout_stays_signed_in(clinic, browser):
    doctor, patient, _ = join_as_doctor_and_patient(browser, clinic)
    doctor.click("#waiting-list button:has-text('Admit')")
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    warned = []
    doctor.on("console", lambda m: m.text == "session warning shown" and warned.append(m))
    doctor.evaluate(
        """() => new MutationObserver(() => document.querySelector('#session-timeout[open]')
                 && console.log('session warning shown'))
             .observe(document.getElementById('session-timeout'), { attributes: true })"""
    )

    # Twice the page has kept the session alive: more than the whole timeout has passed.
    for _ in range(2):
        doctor.wait_for_event(
            "response", lambda r: r.url.endswith("/session/keep-alive/"), timeout=PAST_THE_TIMEOUT
        )
    assert _seconds_left(doctor, clinic) > 0
    assert warned == []
    doctor.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)  # the call goes on
    # The patient, in the call too, was kept signed in as well.
    assert _seconds_left(patient, clinic) > 0


def _doctor_with_an_unsaved_draft(browser, base: str):
    """Dr. Tanaka types in the note of Hanako's visit while the note cannot be saved, so the
    text stays in the browser only."""
    doctor = sign_in(browser, base, "dr.tanaka", "doctor-demo-pass")
    room_path = doctor.get_attribute("a:has-text('Join')", "href")
    doctor.route("**/notes/", lambda route: route.abort())
    doctor.goto(base + room_path)
    doctor.wait_for_function("() => localStorage.getItem('clinic-meet:devices')", timeout=TIMEOUT)
    # The recordings' chunk store, as a recording leaves it (static/js/room/recording/).
    doctor.evaluate(
        "() => new Promise((done) => { indexedDB.open('clinic-meet-recording').onsuccess = done; })"
    )
    doctor.fill("#note-subjective", "Headaches for two weeks.")
    wait_until(doctor, f"() => ({STORED})().drafts.length === 1")
    return doctor


def test_signing_out_clears_the_note_drafts_and_keeps_devices_and_recordings(clinic, browser):
    doctor = _doctor_with_an_unsaved_draft(browser, clinic)
    doctor.click("button:has-text('Sign out')")
    doctor.wait_for_url(f"{clinic}/accounts/login/")
    assert "You are signed out." in doctor.text_content(".messages")
    assert doctor.evaluate(STORED) == {"drafts": [], "devices": True}
    assert doctor.evaluate(RECORDING_DATABASES) == ["clinic-meet-recording"]


def test_the_automatic_logoff_clears_the_note_drafts_too(clinic, browser):
    doctor = _doctor_with_an_unsaved_draft(browser, clinic)
    # Not in the call (the note is open before joining): the warning comes, and the end.
    doctor.wait_for_url(f"{clinic}/accounts/login/?next=*", timeout=2 * PAST_THE_TIMEOUT)
    assert "without activity" in doctor.text_content(".messages")
    assert doctor.evaluate(STORED) == {"drafts": [], "devices": True}
    assert doctor.evaluate(RECORDING_DATABASES) == ["clinic-meet-recording"]


def test_an_idle_admin_page_warns_too_and_lands_on_the_admins_sign_in(clinic, browser):
    page = watched_page(browser, "admin")
    page.goto(f"{clinic}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "clinic-admin-demo")
    page.click("[type=submit]")
    page.wait_for_url(f"{clinic}/admin/", timeout=TIMEOUT)
    page.wait_for_selector(WARNING, timeout=PAST_THE_TIMEOUT)
    assert page.get_attribute("#session-timeout", "role") == "alertdialog"
    assert page.evaluate("() => document.activeElement.id") == "session-stay"
    page.click("#session-stay")
    page.wait_for_selector(WARNING, state="hidden", timeout=TIMEOUT)
    assert _seconds_left(page, clinic) > 15
    page.wait_for_url(f"{clinic}/admin/login/?next=%2Fadmin%2F", timeout=2 * PAST_THE_TIMEOUT)
    assert csp_violations(page) == []
