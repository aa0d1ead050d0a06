"""Two-step sign-in in Chromium, on the demo clinic with MFA_REQUIRED_ROLES=doctor,admin (the
default; other live tests turn it off): a doctor is sent to enrolment at the first sign-in,
reads the key off the page, the test computes the authenticator app's code, the doctor keeps
the recovery codes and signs in again with a fresh code; a recovery code works once; clinic
staff enrol on their way to the admin."""

import base64
import re
import time

import pytest
from django_otp.oath import TOTP

from tests.e2e.conftest import _start_clinic
from tests.e2e.visit import TIMEOUT, csp_violations, screenshot, watched_page

pytestmark = pytest.mark.slow


@pytest.fixture
def clinic_with_mfa(tmp_path, demo_clinic_database):
    yield from _start_clinic(tmp_path, demo_clinic_database, {"MFA_REQUIRED_ROLES": "doctor,admin"})


def _app_code(secret_b32: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app holding the key shows (RFC 6238, 30 s steps, 6 digits)."""
    totp = TOTP(base64.b32decode(secret_b32))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _password_step(page, base: str, username: str, password: str, path="/accounts/login/"):
    page.goto(base + path)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def _enrol(page) -> tuple[str, list[str]]:
    """On the enrolment page: the QR code is drawn, the key read as text, the code confirmed;
    returns the key and the recovery codes shown."""
    page.wait_for_selector("#mfa-secret", timeout=TIMEOUT)
    assert page.locator("svg.mfa__qr").is_visible()
    secret = page.text_content("#mfa-secret").replace(" ", "").strip()
    page.fill("#id_code", _app_code(secret))
    page.click("#mfa-enrol-submit")
    page.wait_for_selector("#recovery-codes", timeout=TIMEOUT)
    codes = [code.strip() for code in page.locator("#recovery-codes code").all_text_contents()]
    return secret, codes


def _sign_out(page) -> None:
    page.click("button:has-text('Sign out')")
    page.wait_for_selector("#id_username", timeout=TIMEOUT)


def test_a_doctor_enrols_signs_in_with_a_code_and_a_recovery_code_works_once(
    clinic_with_mfa, browser
):
    base = clinic_with_mfa
    page = watched_page(browser, "dr.tanaka")
    errors = []
    page.on("pageerror", lambda error: errors.append(error))

    _password_step(page, base, "dr.tanaka", "doctor-demo-pass")
    page.wait_for_url(re.compile(r"/accounts/two-step/set-up/"), timeout=TIMEOUT)
    # Nothing else is open until enrolment is done.
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/accounts/two-step/set-up/"), timeout=TIMEOUT)
    screenshot(page, "mfa-enrolment")
    secret, codes = _enrol(page)
    assert len(codes) == 10
    screenshot(page, "mfa-recovery-codes")
    page.click("#recovery-codes-done")
    page.wait_for_url(f"{base}/", timeout=TIMEOUT)
    assert "Today's schedule" in page.content()

    _sign_out(page)
    _password_step(page, base, "dr.tanaka", "doctor-demo-pass")
    page.wait_for_url(f"{base}/accounts/login/code/", timeout=TIMEOUT)
    # The code enrolment used may not be used again: the app's next one is as fresh as it gets.
    page.fill("#id_code", _app_code(secret, steps_ahead=1))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", timeout=TIMEOUT)
    assert "Today's schedule" in page.content()

    _sign_out(page)
    _password_step(page, base, "dr.tanaka", "doctor-demo-pass")
    page.fill("#id_code", codes[0])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", timeout=TIMEOUT)
    assert "recovery code; 9 left" in page.text_content(".messages")

    _sign_out(page)
    _password_step(page, base, "dr.tanaka", "doctor-demo-pass")
    page.fill("#id_code", codes[0])
    page.click("button[type=submit]")
    page.wait_for_selector("#code-errors", timeout=TIMEOUT)
    assert "That code is not right" in page.text_content("#code-errors")
    assert page.url == f"{base}/accounts/login/code/"
    assert errors == []
    assert csp_violations(page) == []  # sign-in, enrolment's QR code, recovery codes


def test_clinic_staff_enrol_on_their_way_to_the_admin(clinic_with_mfa, browser):
    base = clinic_with_mfa
    page = watched_page(browser, "admin")
    _password_step(page, base, "admin", "clinic-admin-demo", path="/admin/login/")
    page.wait_for_url(re.compile(r"/accounts/two-step/set-up/"), timeout=TIMEOUT)
    _enrol(page)
    page.click("#recovery-codes-done")
    page.wait_for_url(f"{base}/admin/", timeout=TIMEOUT)
    assert page.locator("#site-name").text_content().strip() == "Clinic Meet administration"
    assert csp_violations(page) == []
