"""Sign-in lockout on the API's token endpoint (django-axes): per account and per address,
refused before any password is hashed, the same for unknown usernames as for real ones."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F

from tests.factories import PASSWORD, make_patient

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
MESSAGE = (
    "Too many failed sign-ins. Try again in 15 minutes or ask the clinic to unlock your account."
)


def _sign_in(api, username, password=PASSWORD, address="203.0.113.7", **extra):
    body = {"username": username, "password": password}
    return api.post(TOKEN, body, REMOTE_ADDR=address, **extra)


def test_the_limits_are_five_per_account_and_twenty_per_address_for_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.LOGIN_LOCKOUT_FAILURES_PER_ADDRESS == 20
    assert settings.LOGIN_LOCKOUT_MINUTES == 15
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_the_fifth_failure_locks_the_account_with_429_and_a_clear_message(api):
    user = make_patient().user
    statuses = [_sign_in(api, user.username, "wrong").status_code for _ in range(4)]
    assert statuses == [401] * 4
    locked = _sign_in(api, user.username, "wrong")
    assert locked.status_code == 429
    assert locked.json() == {"detail": MESSAGE}
    assert int(locked["Retry-After"]) == 15 * 60


def test_a_locked_account_refuses_even_the_right_password_without_hashing_it(api, hashing):
    user = make_patient().user
    hashing.clear()
    for _ in range(5):
        _sign_in(api, user.username, "wrong")
    assert len(hashing) == 5  # each failure until the lock was hashed
    hashing.clear()
    for address in ("203.0.113.7", "192.0.2.44"):  # where the failures came from, and elsewhere
        refused = _sign_in(api, user.username, address=address)
        assert refused.status_code == 429
        assert "access" not in refused.json()
    assert hashing == []


def test_the_account_lock_holds_from_every_address(api):
    user = make_patient().user
    for n in range(5):
        _sign_in(api, user.username, "wrong", address=f"198.51.100.{n + 1}")
    assert _sign_in(api, user.username, address="192.0.2.99").status_code == 429
    assert _sign_in(api, make_patient().user.username, address="192.0.2.99").status_code == 200


def test_an_unknown_username_locks_exactly_like_a_real_one(api, hashing):
    real = make_patient().user.username
    hashing.clear()

    def attempts(username, address):
        return [_sign_in(api, username, "wrong", address=address) for _ in range(6)]

    for_real = attempts(real, "198.51.100.1")
    hashed_for_real = len(hashing)
    for_nobody = attempts("nobody-by-that-name", "198.51.100.2")
    assert [r.status_code for r in for_real] == [401] * 4 + [429] * 2
    assert [r.status_code for r in for_real] == [r.status_code for r in for_nobody]
    assert [r.json() for r in for_real] == [r.json() for r in for_nobody]
    assert [r.get("Retry-After") for r in for_real] == [r.get("Retry-After") for r in for_nobody]
    # The same work too: five hashings each (a check, or a decoy), none once locked.
    assert (hashed_for_real, len(hashing) - hashed_for_real) == (5, 5)


def test_twenty_failures_from_one_address_lock_that_address_for_every_account(api, hashing):
    user = make_patient().user
    for n in range(19):
        assert _sign_in(api, f"guess-{n}", "wrong").status_code == 401
    assert _sign_in(api, "guess-19", "wrong").status_code == 429
    hashing.clear()
    assert _sign_in(api, user.username).status_code == 429  # the right password, same address
    assert hashing == []
    assert _sign_in(api, user.username, address="198.51.100.2").status_code == 200


def test_a_successful_sign_in_forgives_the_accounts_own_failures(api):
    user = make_patient().user
    for _ in range(4):
        _sign_in(api, user.username, "wrong")
    assert _sign_in(api, user.username).status_code == 200
    assert [_sign_in(api, user.username, "wrong").status_code for _ in range(4)] == [401] * 4


def test_signing_in_to_ones_own_account_does_not_wipe_a_spray_from_the_address(api):
    user = make_patient().user
    for n in range(19):
        _sign_in(api, f"sprayed-{n}", "wrong")
    assert _sign_in(api, user.username).status_code == 200
    assert _sign_in(api, "sprayed-19", "wrong").status_code == 429


def test_the_lock_ends_after_the_cool_off(api):
    user = make_patient().user
    for _ in range(5):
        _sign_in(api, user.username, "wrong")
    assert _sign_in(api, user.username).status_code == 429
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert _sign_in(api, user.username).status_code == 200


def test_refresh_and_other_endpoints_are_not_locked(api):
    user = make_patient().user
    pair = _sign_in(api, user.username).json()
    for _ in range(6):
        _sign_in(api, user.username, "wrong")
    refreshed = api.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert refreshed.status_code == 200
    assert api.as_user(user).get("/api/me/").status_code == 200


def test_an_overlong_username_is_400_and_records_nothing(api):
    response = _sign_in(api, "x" * 10_000, "wrong")
    assert response.status_code == 400
    assert "username" in response.json()
    assert not AccessAttempt.objects.exists()


def test_behind_a_proxy_the_forwarded_address_is_counted_and_a_forged_one_is_not(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = make_patient().user
    _sign_in(api, user.username, "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.5")
    _sign_in(api, user.username, "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert sorted(AccessAttempt.objects.values_list("ip_address", flat=True)) == [
        "10.0.0.1",
        "192.0.2.5",
    ]
