"""A new password, a deactivation or a deleted account revokes every API token the person
holds (visits.services.credentials, run from visits.signals on every save of a user)."""

import pytest
from django.db import transaction
from django.urls import reverse
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.factories import PASSWORD, make_patient, make_user
from visits.models import Role
from visits.services import user_tokens_revoke

pytestmark = pytest.mark.django_db

TOKEN, REFRESH, ME = "/api/auth/token/", "/api/auth/token/refresh/", "/api/me/"
NEW_PASSWORD = "a-brand-new-passphrase-42"


def _pair(api, user, password=PASSWORD) -> dict:
    response = api.post(TOKEN, {"username": user.username, "password": password})
    assert response.status_code == 200
    return response.json()


def _me(api, pair) -> int:
    return api.client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"}).status_code


def _refresh(api, pair) -> int:
    return api.post(REFRESH, {"refresh": pair["refresh"]}).status_code


def test_a_new_password_revokes_every_earlier_token(api):
    user = make_patient().user
    phone, laptop = _pair(api, user), _pair(api, user)
    user.set_password(NEW_PASSWORD)
    user.save()
    for pair in (phone, laptop):
        assert _refresh(api, pair) == 401
        assert _me(api, pair) == 401
    fresh = _pair(api, user, NEW_PASSWORD)
    assert _me(api, fresh) == 200 and _refresh(api, fresh) == 200


def test_an_old_access_token_is_refused_as_issued_before_the_password_change(api):
    user = make_patient().user
    pair = _pair(api, user)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    response = api.client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"})
    assert response.status_code == 401
    assert response.json()["code"] == "password_changed"


def test_deactivation_revokes_the_tokens_for_good(api):
    user = make_patient().user
    pair = _pair(api, user)
    user.is_active = False
    user.save()
    assert _refresh(api, pair) == 401
    assert _me(api, pair) == 401
    user.is_active = True
    user.save()
    assert _refresh(api, pair) == 401  # reactivating does not bring the old sign-in back


def test_a_password_changed_in_the_admin_revokes_the_tokens(api, client):
    patient = make_patient().user
    pair = _pair(api, patient)
    superuser = make_user(Role.ADMIN)
    superuser.is_superuser = True  # the admin's rules on who may set whose password aside
    superuser.save()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[patient.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    assert _refresh(api, pair) == 401
    assert _me(api, pair) == 401


def test_saves_that_leave_the_credentials_alone_revoke_nothing(api):
    user = make_patient().user
    first = _pair(api, user)
    _pair(api, user)  # another sign-in (saves last_login)
    user.first_name = "Renamed"
    user.save()
    assert not BlacklistedToken.objects.exists()
    assert _me(api, first) == 200 and _refresh(api, first) == 200


def test_a_rolled_back_password_change_revokes_nothing(api):
    user = make_patient().user
    pair = _pair(api, user)
    with pytest.raises(RuntimeError), transaction.atomic():
        user.set_password(NEW_PASSWORD)
        user.save()
        raise RuntimeError("the rest of the change failed")
    assert _refresh(api, pair) == 200


def test_revoking_twice_is_harmless_and_counts_only_live_tokens(api):
    user = make_patient().user
    _pair(api, user), _pair(api, user)
    assert user_tokens_revoke(user_id=user.pk) == 2
    assert user_tokens_revoke(user_id=user.pk) == 0


def test_a_deactivated_users_portal_session_ends(client):
    user = make_patient().user
    client.force_login(user)
    assert client.get("/").status_code == 200
    user.is_active = False
    user.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
