"""Two-step sign-in on the portal: the password, then the code; enrolment for the roles that
require it (MFA_REQUIRED_ROLES) before anything else; recovery codes good once; wrong codes
counted by the sign-in lockout."""

import base64
import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import user_logged_in
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, make_doctor, make_enrolled, make_patient, totp_code
from visits.views.login import PENDING_SIGN_IN

pytestmark = pytest.mark.django_db

LOGIN, CODE, ENROL = reverse("login"), reverse("login-code"), reverse("mfa-enrol")
HOME = reverse("portal:home")
LOCKOUT = "Too many failed sign-ins."


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_ROLES = ["doctor", "admin"]


@pytest.fixture
def signed_in_events():
    events = []

    def receiver(sender, user, **kwargs):
        events.append(user.username)

    user_logged_in.connect(receiver)
    yield events
    user_logged_in.disconnect(receiver)


def _password(client, username, password=PASSWORD, next_url=""):
    return client.post(LOGIN, {"username": username, "password": password, "next": next_url})


def _code(client, code):
    return client.post(CODE, {"code": code})


def _secret_on_page(page) -> str:
    shown = re.search(r'id="mfa-secret">([A-Z2-7 ]+)<', page.content.decode()).group(1)
    return base64.b32decode(shown.replace(" ", "")).hex()


def test_a_doctor_without_a_device_is_sent_to_enrolment_and_reaches_nothing_else(client):
    doctor = make_doctor().user
    signed_in = _password(client, doctor.username)
    assert signed_in.status_code == 302
    home = client.get(HOME)
    assert home.status_code == 302 and home["Location"].startswith(ENROL)
    assert client.get("/book/")["Location"].startswith(ENROL)
    assert client.get("/admin/")["Location"].startswith(ENROL)
    api = client.get("/api/me/")  # the portal's pages call the API with the session
    assert api.status_code == 403
    assert api.json()["code"] == "mfa_enrolment_required"
    assert client.get(ENROL).status_code == 200


def test_enrolment_shows_a_qr_code_and_the_secret_and_a_right_code_confirms_it(client):
    doctor = make_doctor().user
    _password(client, doctor.username)
    page = client.get(ENROL)
    body = page.content.decode()
    assert "<svg" in body and "QR code" in body  # drawn server-side, inline
    # No script of its own: only the site's files (the session timer), nothing inline.
    assert re.findall(r"<script[^>]*>", body) == [
        '<script type="module" src="/static/js/session/main.js">'
    ]
    secret = _secret_on_page(page)

    wrong = client.post(ENROL, {"code": "000000" if totp_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=doctor).exists()

    done = client.post(ENROL, {"code": totp_code(secret), "next": "/book/"})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert 'href="/book/"' in done.content.decode()
    device = TOTPDevice.objects.get(user=doctor)
    assert device.confirmed and device.key == secret
    # This session passed the second factor: the portal is open.
    assert client.get(HOME).status_code == 200
    # The secret is not offered again.
    assert client.get(ENROL)["Location"] == reverse("mfa")


def test_an_enrolled_doctor_signs_in_with_password_then_code(client, signed_in_events):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    step_one = _password(client, doctor.username, next_url="/book/")
    assert step_one["Location"] == CODE
    assert "_auth_user_id" not in client.session  # not signed in by the password alone
    assert signed_in_events == []
    assert client.get(HOME)["Location"].startswith(LOGIN)

    step_two = _code(client, totp_code(device.key, steps_ahead=1))
    assert step_two.status_code == 302 and step_two["Location"] == "/book/"
    assert client.session["_auth_user_id"] == str(doctor.pk)
    assert signed_in_events == [doctor.username]
    assert client.get(HOME).status_code == 200


def test_a_code_works_once(client):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    code = totp_code(device.key, steps_ahead=1)
    _password(client, doctor.username)
    assert _code(client, code).status_code == 302
    client.post(reverse("logout"))
    _password(client, doctor.username)
    again = _code(client, code)
    assert again.status_code == 200
    assert "That code is not right" in again.content.decode()


def test_a_recovery_code_signs_in_once(client):
    doctor = make_doctor().user
    _, codes = make_enrolled(doctor)
    _password(client, doctor.username)
    first = _code(client, codes[0].upper())  # as typed: any case
    assert first.status_code == 302
    assert StaticToken.objects.filter(device__user=doctor).count() == 9
    client.post(reverse("logout"))
    _password(client, doctor.username)
    assert _code(client, codes[0]).status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_codes_count_towards_the_lockout_and_a_locked_account_is_refused_at_the_code(client):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    _password(client, doctor.username)
    statuses = [_code(client, "123456").status_code for _ in range(4)]
    assert statuses == [200] * 4
    assert AccessAttempt.objects.get(username=doctor.username).failures_since_start == 4
    locked = _code(client, "654321")
    assert locked.status_code == 429 and LOCKOUT in locked.content.decode()
    # The right code does not get through a locked account.
    refused = _code(client, totp_code(device.key, steps_ahead=1))
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_code_step_forgives_earlier_failures_only_once_it_is_passed(client):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    _password(client, doctor.username, "wrong")
    _password(client, doctor.username)
    assert AccessAttempt.objects.filter(username=doctor.username).exists()
    _code(client, totp_code(device.key, steps_ahead=1))
    assert not AccessAttempt.objects.filter(username=doctor.username).exists()


def test_the_code_step_without_a_password_step_goes_back_to_sign_in(client):
    assert client.get(CODE)["Location"] == LOGIN
    doctor = make_doctor().user
    make_enrolled(doctor)
    _password(client, doctor.username)
    doctor.set_password("a-brand-new-password")  # changed in between: the pending step is void
    doctor.save()
    assert _code(client, "123456")["Location"] == LOGIN


def test_the_code_step_expires(client, settings):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    _password(client, doctor.username)
    session = client.session
    session[PENDING_SIGN_IN]["since"] -= settings.MFA_CODE_STEP_SECONDS + 1
    session.save()
    assert _code(client, totp_code(device.key, steps_ahead=1))["Location"] == LOGIN


def test_the_code_step_redirects_only_within_the_site(client):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    _password(client, doctor.username, next_url="https://evil.example/")
    assert _code(client, totp_code(device.key, steps_ahead=1))["Location"] == HOME


def test_patients_are_not_asked_to_enrol_but_may(client):
    patient = make_patient().user
    _password(client, patient.username)
    assert client.get(HOME).status_code == 200
    overview = client.get(reverse("mfa"))
    assert "Set up two-step sign-in" in overview.content.decode()
    secret = _secret_on_page(client.get(ENROL))
    assert client.post(ENROL, {"code": totp_code(secret)}).status_code == 200
    assert TOTPDevice.objects.filter(user=patient, confirmed=True).exists()
    client.post(reverse("logout"))
    # Once enrolled, the patient's sign-in asks for the code too.
    assert _password(client, patient.username)["Location"] == CODE


def test_a_patient_may_turn_it_off_and_a_doctor_may_not(client):
    patient = make_patient().user
    make_enrolled(patient)
    client.force_login(patient)
    session = client.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=patient).persistent_id
    session.save()
    client.post(reverse("mfa-turn-off"))
    assert not TOTPDevice.objects.filter(user=patient).exists()
    client.post(reverse("logout"))

    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    _password(client, doctor.username)
    _code(client, totp_code(device.key, steps_ahead=1))
    refused = client.post(reverse("mfa-turn-off"), follow=True)
    assert "Your role requires two-step sign-in" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=doctor).exists()


def test_new_recovery_codes_replace_the_old_ones(client):
    doctor = make_doctor().user
    device, old = make_enrolled(doctor)
    _password(client, doctor.username)
    _code(client, totp_code(device.key, steps_ahead=1))
    page = client.post(reverse("mfa-recovery-codes"))
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=doctor).values_list("token", flat=True)) == (
        set(new)
    )


def test_a_session_that_never_passed_the_code_is_signed_out_once_a_device_exists(client):
    # Signed in with the password before enrolling elsewhere: that session must sign in again.
    patient = make_patient().user
    client.force_login(patient)
    assert client.get(HOME).status_code == 200
    make_enrolled(patient)
    again = client.get(HOME)
    assert again.status_code == 302 and again["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session


def test_with_no_required_roles_a_doctor_signs_in_with_the_password_alone(client, settings):
    settings.MFA_REQUIRED_ROLES = []
    doctor = make_doctor().user
    assert _password(client, doctor.username)["Location"] == HOME
    assert client.get(HOME).status_code == 200


def test_the_pages_answer_each_kind_of_person(client):
    """The new pages for the six callers of the API matrix (anonymous, two patients, two
    doctors, staff): sign-in pages are open; the rest need a session, and for the roles that
    require it, enrolment first (only enrolment itself is open to them)."""
    from tests.factories import make_admin

    people = {
        "anonymous": None,
        "patient_a": make_patient().user,
        "patient_b": make_patient().user,
        "doctor_x": make_doctor().user,
        "doctor_y": make_doctor().user,
        "admin": make_admin(),
    }
    expected = {
        # anonymous, patients, doctors and staff (not enrolled)
        reverse("mfa"): {"anonymous": 302, "patient": 200, "doctor": 302, "admin": 302},
        ENROL: {"anonymous": 302, "patient": 200, "doctor": 200, "admin": 200},
        CODE: {"anonymous": 302, "patient": 302, "doctor": 302, "admin": 302},
        LOGIN: {"anonymous": 200, "patient": 302, "doctor": 302, "admin": 302},
    }
    for actor, user in people.items():
        client.logout()
        if user is not None:
            client.force_login(user)
        kind = actor.rstrip("_abxy")
        for url, statuses in expected.items():
            assert client.get(url).status_code == statuses[kind], (actor, url)
        for url in (reverse("mfa-recovery-codes"), reverse("mfa-turn-off")):
            answer = client.post(url)
            assert answer.status_code == 302, (actor, url)
            assert not answer["Location"].startswith("/accounts/two-step/recovery"), actor


def test_the_code_that_confirmed_enrolment_does_not_sign_in_again(client):
    doctor = make_doctor().user
    _password(client, doctor.username)
    secret = _secret_on_page(client.get(ENROL))
    code = totp_code(secret)
    client.post(ENROL, {"code": code})
    client.post(reverse("logout"))
    _password(client, doctor.username)
    assert _code(client, code).status_code == 200  # refused: the form again
    assert "_auth_user_id" not in client.session


def test_after_enrolment_continue_leads_only_within_the_site(client):
    patient = make_patient().user
    client.force_login(patient)
    page = client.get(ENROL, {"next": "https://evil.example/"})
    secret = _secret_on_page(page)
    done = client.post(ENROL, {"code": totp_code(secret), "next": "https://evil.example/"})
    assert 'id="recovery-codes-done"' in done.content.decode()
    assert "evil.example" not in done.content.decode()
