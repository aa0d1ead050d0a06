"""The room page of a whole two-party call runs under the site's Content-Security-Policy and
Permissions-Policy with nothing refused: camera, microphone and screen share, the call's
socket, end-to-end encryption (the MLS bundle and the frame worker) and a recording (its
tick worker, the chunk uploads). The policy is in force: an inline script is refused. The
headers page by page: tests/views/test_security_headers.py."""

import secrets
from base64 import urlsafe_b64encode

import pytest

from tests.e2e.conftest import _start_clinic
from tests.e2e.visit import (
    HOOK,
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    csp_violations,
    frames_grow,
    join_as_doctor_and_patient,
    sign_in,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def clinic(tmp_path, demo_clinic_database):
    key = urlsafe_b64encode(secrets.token_bytes(32)).decode()
    yield from _start_clinic(tmp_path, demo_clinic_database, {"RECORDINGS_KEY": key})


def _refuses_inline_script(page) -> bool:
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.inlineScriptRan = true"; document.head.append(s); }"""
    )
    wait_until(page, "() => window.clinicMeetCspViolations.length > 0")
    return page.evaluate("() => window.inlineScriptRan") is None


def test_a_whole_call_runs_under_the_policy_with_nothing_refused(clinic, browser):
    doctor, patient, room_path = join_as_doctor_and_patient(browser, clinic)
    room = doctor.context.request.get(clinic + room_path)
    assert "script-src 'self'" in room.headers["content-security-policy"]
    assert "camera=(self)" in room.headers["permissions-policy"]
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)

    doctor.click("#e2ee-turn-on")
    for page in (doctor, patient):
        page.wait_for_function(f"() => {HOOK}.e2ee.encrypted", timeout=TIMEOUT)
        frames_grow(page)
    patient.click("#toggle-screen")
    doctor.wait_for_function(
        "() => [...document.querySelectorAll('.video--remote')].some(v => v.videoWidth >= 1280)",
        timeout=TIMEOUT,
    )
    patient.click("#toggle-screen")
    doctor.click("#record-button")
    patient.click("#recording-allow", timeout=TIMEOUT)
    wait_until(doctor, f"() => ({HOOK}.recorder?.chunks || 0) >= 2")
    doctor.click("#recording-stop")
    doctor.fill("#note-subjective", "Headaches for two weeks.")
    doctor.wait_for_selector("#notes-status:has-text('Saved')", timeout=TIMEOUT)

    assert csp_violations(doctor) == []
    assert csp_violations(patient) == []
    assert _refuses_inline_script(doctor)


def test_the_portal_pages_and_the_api_docs_run_under_it(clinic, browser):
    patient = sign_in(browser, clinic, "hanako", "patient-demo-pass")
    for path in ("/", "/book/"):
        patient.goto(clinic + path)
        patient.wait_for_load_state("networkidle")
        assert csp_violations(patient) == [], path
    patient.goto(clinic + "/api/docs/")
    patient.wait_for_selector(".opblock", timeout=TIMEOUT)  # Swagger UI rendered the schema
    assert csp_violations(patient) == []
    assert _refuses_inline_script(patient)
