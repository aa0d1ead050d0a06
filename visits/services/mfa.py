"""Writes about the second factor: enrolling an authenticator app (TOTP), recovery codes (one
django-otp static device, each code good once), checking a code at sign-in, and a reset.

The lockout is not here: a wrong code is a failed sign-in, which the caller reports to
django-axes (Django's user_login_failed), so one count covers passwords and codes alike.
"""

import time
from base64 import b32encode
from binascii import unhexlify

from django.conf import settings
from django.db import transaction
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from clinic.errors import ApplicationError, ConflictError, PermissionDeniedError
from visits import selectors
from visits.models import User
from visits.services.people import user_may_manage_account

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
WRONG_CODE = "That code is not right. Enter the 6-digit code your app shows now."


def mfa_new_secret() -> str:
    """A new TOTP secret (hex, 20 bytes as RFC 6238's SHA-1 wants), kept server-side in the
    session until the person confirms it with a code."""
    return random_hex(20)


def mfa_secret_for_people(secret: str) -> str:
    """The secret as an authenticator app takes it typed in: base32, in groups of four."""
    text = b32encode(unhexlify(secret)).decode()
    return " ".join(text[index : index + 4] for index in range(0, len(text), 4))


def mfa_setup_url(*, user: User, secret: str) -> str:
    """The otpauth:// URL the QR code carries (issuer OTP_TOTP_ISSUER, label the username)."""
    return TOTPDevice(user=user, key=secret).config_url


def _normalised(code: str) -> str:
    # People type codes with spaces or dashes, as shown; recovery codes in any case.
    return "".join(code.split()).replace("-", "").lower()


@transaction.atomic
def mfa_enrol(*, user: User, secret: str, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the authenticator app holding `secret` with a code it shows now: it becomes
    `user`'s second factor, with a fresh set of recovery codes (returned, shown once)."""
    if selectors.mfa_enrolled(user):
        raise ConflictError("Two-step sign-in is already set up for this account.")
    device = TOTPDevice(user=user, key=secret, name=AUTHENTICATOR_NAME, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    token = _normalised(code)
    if not (token.isdigit() and totp.verify(int(token), device.tolerance)):
        raise ApplicationError(WRONG_CODE, field="code")
    device.last_t = totp.t()  # this code may not sign anyone in again
    device.save()
    return device, mfa_recovery_codes_renew(user=user)


@transaction.atomic
def mfa_recovery_codes_renew(*, user: User) -> list[str]:
    """New recovery codes for `user`; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_CODES_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.MFA_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def mfa_verify(*, user: User, code: str) -> Device | None:
    """The device that accepts `code` for `user`: their authenticator app (a code not used
    before) or one of their recovery codes (used up by this). None when neither does."""
    token = _normalised(code)
    if not token:
        return None
    if token.isdigit():
        candidates = TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        candidates = StaticDevice.objects.filter(user=user, confirmed=True)
    # Locked rows: two requests with one code cannot both get in.
    for device in candidates.select_for_update():
        if device.verify_token(token):
            return device
    return None


@transaction.atomic
def mfa_reset(*, actor: User, user: User) -> int:
    """Remove `user`'s second factor (a lost phone): clinic staff for the accounts they manage,
    or the person themself when their role does not require one. A role that requires it is
    asked to enrol again at the next sign-in. Returns how many devices went."""
    if actor.pk == user.pk:
        if selectors.mfa_required_for(user):
            raise PermissionDeniedError(
                "Your role requires two-step sign-in; ask the clinic to reset it."
            )
    elif not (actor.is_clinic_staff and user_may_manage_account(actor=actor, target=user)):
        raise PermissionDeniedError("Only a superuser resets two-step sign-in of staff.")
    return mfa_devices_remove(user=user)


@transaction.atomic
def mfa_devices_remove(*, user: User) -> int:
    """`user`'s authenticator app and recovery codes, gone (mfa_reset's rules decide who may;
    the demo clinic's seed restores its printed logins with it). How many devices went."""
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    static, _ = StaticDevice.objects.filter(user=user).delete()
    return removed + static
