"""Refresh tokens rotate (each is good once) and POST /api/auth/logout/ revokes one."""

import pytest

from tests.factories import PASSWORD, make_patient, make_user, tokens_for
from visits.models import Role

pytestmark = pytest.mark.django_db

TOKEN, REFRESH, LOGOUT = "/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/"


def _pair(api, user) -> dict:
    return api.post(TOKEN, {"username": user.username, "password": PASSWORD}).json()


def test_a_refresh_hands_out_a_new_refresh_token_and_spends_the_old_one(api):
    pair = _pair(api, make_patient().user)
    first = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != pair["refresh"]
    replay = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_not_valid"
    assert api.post(REFRESH, {"refresh": first.json()["refresh"]}).status_code == 200


def test_logout_revokes_the_refresh_token(api):
    pair = _pair(api, make_patient().user)
    response = api.post(LOGOUT, {"refresh": pair["refresh"]})
    assert response.status_code == 204
    assert response.content == b""
    assert api.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    assert api.post(LOGOUT, {"refresh": pair["refresh"]}).status_code == 401  # already spent


def test_logout_needs_no_access_token_and_ignores_a_stale_one(api):
    pair = _pair(api, make_patient().user)
    response = api.client.post(
        LOGOUT,
        {"refresh": pair["refresh"]},
        content_type="application/json",
        headers={"Authorization": "Bearer expired.or.garbage"},
    )
    assert response.status_code == 204


@pytest.mark.parametrize(("body", "status"), [({}, 400), ({"refresh": "not.a.token"}, 401)])
def test_logout_refuses_a_missing_or_broken_token(api, body, status):
    assert api.post(LOGOUT, body).status_code == status


def test_logout_refuses_an_access_token(api):
    pair = _pair(api, make_patient().user)
    assert api.post(LOGOUT, {"refresh": pair["access"]}).status_code == 401


def test_a_deleted_accounts_refresh_token_is_401_not_500(api):
    user = make_user(Role.PATIENT)  # no patient record, which would protect the account
    # Minted, not signed in for: a sign-in is in the access log, which protects the account too.
    pair = tokens_for(user)
    user.delete()
    response = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert response.status_code == 401


def test_the_schema_documents_logout_and_the_rotated_refresh(api):
    schema = api.client.get("/api/schema/?format=json").json()
    logout = schema["paths"]["/api/auth/logout/"]["post"]
    assert set(logout["responses"]) == {"204", "400", "401"}
    refreshed = schema["paths"]["/api/auth/token/refresh/"]["post"]["responses"]["200"]
    ref = refreshed["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"access", "refresh"}
    token = schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "429" in token
