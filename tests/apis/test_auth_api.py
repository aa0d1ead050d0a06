"""Sign-in with JWT: token pair, refresh, the role claim and /api/me/ (lockout: test_lockout.py,
revocation: test_token_revocation.py)."""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import (
    PASSWORD,
    make_admin,
    make_doctor,
    make_patient,
    make_user,
    tokens_for,
)
from visits.models import Role

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
ME = "/api/me/"


def _sign_in(api, username, password=PASSWORD, **extra):
    return api.post(TOKEN, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("role", [Role.PATIENT, Role.DOCTOR, Role.ADMIN])
def test_sign_in_returns_a_token_pair_whose_access_token_carries_the_role(api, role):
    user = make_user(role)
    response = _sign_in(api, user.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    access = AccessToken(body["access"])  # verifies signature, expiry and type
    assert access["role"] == role
    assert str(access["user_id"]) == str(user.id)


@pytest.mark.parametrize(
    ("username", "password"),
    [("nobody-by-that-name", PASSWORD), (None, "wrong-password-entirely")],
)
def test_bad_credentials_are_401_without_saying_which_part_was_wrong(api, username, password):
    user = make_patient().user
    response = _sign_in(api, username or user.username, password)
    assert response.status_code == 401
    assert "access" not in response.json()
    assert response.json()["detail"] == "No active account found with the given credentials"


def test_a_deactivated_account_cannot_sign_in(api):
    user = make_patient().user
    user.is_active = False
    user.save()
    assert _sign_in(api, user.username).status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [({}, {"username", "password"}), ({"username": "x"}, {"password"})],
)
def test_missing_credentials_are_400_per_field(api, body, fields):
    response = api.post(TOKEN, body)
    assert response.status_code == 400
    assert set(response.json()) == fields


def test_refresh_gives_a_new_access_token_that_still_carries_the_role(api):
    doctor = make_doctor()
    pair = _sign_in(api, doctor.user.username).json()
    response = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}  # rotation: see test_token_revocation
    access = AccessToken(response.json()["access"])
    assert access["role"] == "doctor"
    me = api.client.get(ME, headers={"Authorization": f"Bearer {response.json()['access']}"})
    assert me.status_code == 200 and me.json()["doctor_id"] == doctor.id


@pytest.mark.parametrize("which", ["garbage", "access"])
def test_refresh_with_anything_but_a_refresh_token_is_401(api, which):
    pair = tokens_for(make_patient().user)
    token = "not.a.token" if which == "garbage" else pair["access"]
    response = api.post(REFRESH, {"refresh": token})
    assert response.status_code == 401
    assert "access" not in response.json()


def test_refresh_without_a_token_is_400(api):
    response = api.post(REFRESH, {})
    assert response.status_code == 400
    assert "refresh" in response.json()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not.a.token",
        "Bearer ",
        "Token abc",
    ],
)
def test_requests_with_a_broken_authorization_header_are_401(api, header):
    response = api.client.get(ME, headers={"Authorization": header})
    assert response.status_code == 401


def test_a_refresh_token_is_not_an_access_token(api):
    pair = tokens_for(make_patient().user)
    response = api.client.get(ME, headers={"Authorization": f"Bearer {pair['refresh']}"})
    assert response.status_code == 401


def test_an_expired_access_token_is_401(api):
    user = make_patient().user
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = api.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_anonymous_me_is_401_with_a_bearer_challenge(api):
    response = api.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_for_a_patient(api):
    patient = make_patient(first_name="Ana", last_name="Lima")
    response = api.as_user(patient.user).get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "id": patient.user.id,
        "username": patient.user.username,
        "role": "patient",
        "display_name": "Ana Lima",
        "doctor_id": None,
        "patient_id": patient.id,
    }


def test_me_for_a_doctor_uses_the_doctors_display_name(api):
    doctor = make_doctor(display_name="Dr. Aiko Tanaka")
    body = api.as_user(doctor.user).get(ME).json()
    assert body["role"] == "doctor"
    assert body["display_name"] == "Dr. Aiko Tanaka"
    assert (body["doctor_id"], body["patient_id"]) == (doctor.id, None)


def test_me_for_clinic_staff(api):
    admin = make_admin()
    body = api.as_user(admin).get(ME).json()
    assert body["role"] == "admin"
    assert (body["id"], body["doctor_id"], body["patient_id"]) == (admin.id, None, None)
