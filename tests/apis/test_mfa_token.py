"""POST /api/auth/token/ with two-step sign-in: the roles in MFA_REQUIRED_ROLES (and anyone
enrolled) send `otp` too; a wrong code is a failed sign-in for the lockout; tokens so obtained
are revoked as before."""

import pytest
from axes.models import AccessAttempt
from rest_framework.test import APIClient

from tests.factories import (
    PASSWORD,
    make_admin,
    make_doctor,
    make_enrolled,
    make_patient,
    totp_code,
)
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_ROLES = ["doctor", "admin"]


def _token(api, user, **extra):
    return api.post(TOKEN, {"username": user.username, "password": PASSWORD, **extra})


def test_an_enrolled_doctor_without_otp_is_told_to_send_it(api):
    doctor = make_doctor().user
    make_enrolled(doctor)
    answer = _token(api, doctor)
    assert answer.status_code == 401
    assert answer.json()["code"] == "mfa_required"
    assert "access" not in answer.json()
    assert not AccessAttempt.objects.filter(username=doctor.username).exists()  # not a failure


def test_with_the_right_otp_the_doctor_gets_tokens(api):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    answer = _token(api, doctor, otp=totp_code(device.key, steps_ahead=1))
    assert answer.status_code == 200, answer.json()
    assert {"access", "refresh"} <= set(answer.json())
    me = api.client.get("/api/me/", headers={"Authorization": f"Bearer {answer.json()['access']}"})
    assert me.status_code == 200  # a token is not a session: the portal's gate leaves it be


def test_a_recovery_code_works_once_on_the_api_too(api):
    doctor = make_doctor().user
    _, codes = make_enrolled(doctor)
    assert _token(api, doctor, otp=codes[0]).status_code == 200
    again = _token(api, doctor, otp=codes[0])
    assert again.status_code == 401 and again.json()["code"] == "mfa_invalid"


def test_a_wrong_otp_is_a_failed_sign_in_and_the_fifth_locks(api):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    statuses = [_token(api, doctor, otp="123456").status_code for _ in range(4)]
    assert statuses == [401] * 4
    assert AccessAttempt.objects.get(username=doctor.username).failures_since_start == 4
    locked = _token(api, doctor, otp="123456")
    assert locked.status_code == 429
    refused = _token(api, doctor, otp=totp_code(device.key, steps_ahead=1))
    assert refused.status_code == 429


def test_a_doctor_or_staff_not_enrolled_is_told_to_enrol_in_the_portal(api):
    for user in (make_doctor().user, make_admin()):
        answer = _token(api, user)
        assert answer.status_code == 403
        assert answer.json()["code"] == "mfa_enrolment_required"
        assert "portal" in answer.json()["detail"]


def test_patients_need_no_otp_unless_they_enrolled(api):
    patient = make_patient().user
    assert _token(api, patient).status_code == 200
    device, _ = make_enrolled(patient)
    assert _token(api, patient).json()["code"] == "mfa_required"
    assert _token(api, patient, otp=totp_code(device.key, steps_ahead=1)).status_code == 200


def test_a_wrong_password_is_refused_before_the_code_is_looked_at(api):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    code = totp_code(device.key, steps_ahead=1)
    body = {"username": doctor.username, "password": "wrong", "otp": code}
    answer = api.post(TOKEN, body)
    assert answer.status_code == 401
    assert answer.json().get("code") is None  # nothing says the password was right


def test_with_no_required_roles_a_doctor_not_enrolled_gets_tokens(api, settings):
    settings.MFA_REQUIRED_ROLES = []
    assert _token(api, make_doctor().user).status_code == 200


def test_a_new_password_still_revokes_tokens_got_with_a_code(api):
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    tokens = _token(api, doctor, otp=totp_code(device.key, steps_ahead=1)).json()
    doctor.set_password("another-long-password")
    doctor.save()
    refreshed = api.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401
    me = api.client.get("/api/me/", headers={"Authorization": f"Bearer {tokens['access']}"})
    assert me.status_code == 401


def test_the_api_logs_a_code_passed_and_a_code_failed():
    doctor = make_doctor().user
    device, _ = make_enrolled(doctor)
    api = APIClient()
    url = TOKEN
    right = totp_code(device.key, steps_ahead=1)
    wrong = "000000" if right != "000000" else "111111"
    assert (
        api.post(
            url, {"username": doctor.username, "password": PASSWORD, "otp": wrong}, format="json"
        ).status_code
        == 401
    )
    assert (
        api.post(
            url, {"username": doctor.username, "password": PASSWORD, "otp": right}, format="json"
        ).status_code
        == 200
    )
    logged = AccessLogEntry.objects.filter(viewer=doctor, action__startswith="mfa_")
    assert list(logged.order_by("pk").values_list("action", "channel")) == [
        (AccessLogEntry.Event.MFA_FAILED, AccessLogEntry.Channel.API),
        (AccessLogEntry.Event.MFA_VERIFIED, AccessLogEntry.Channel.API),
    ]
