"""Every step of two-step sign-in is in the access log, with who, through what and from where:
enrolment, a code passed or failed, a recovery code used, new recovery codes, a reset by
clinic staff (the API's steps: tests/apis/test_mfa_token.py)."""

import re

import pytest
from django.urls import reverse

from tests.factories import make_admin, make_doctor, make_enrolled, totp_code
from tests.views.test_mfa_sign_in import ENROL, _code, _password, _secret_on_page
from visits.models import AccessLogEntry, User

pytestmark = pytest.mark.django_db
Event = AccessLogEntry.Event
MFA_EVENTS = [choice for choice in Event.values if choice.startswith("mfa_")]


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_ROLES = ["doctor", "admin"]


def _mfa_log(*users: User) -> list[tuple[str, str, str, str]]:
    entries = AccessLogEntry.objects.filter(viewer__in=users, action__in=MFA_EVENTS)
    return [
        (entry.viewer.username, entry.action, entry.channel, entry.record)
        for entry in entries.select_related("viewer").order_by("pk")
    ]


def test_the_portal_steps_are_logged_with_the_address(client):
    doctor = make_doctor().user
    _password(client, doctor.username)
    secret = _secret_on_page(client.get(ENROL))
    client.post(ENROL, {"code": totp_code(secret)}, REMOTE_ADDR="203.0.113.7")
    client.post(reverse("mfa-recovery-codes"))
    codes = client.post(reverse("mfa-recovery-codes")).content.decode()
    recovery = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", codes)[0]
    client.post(reverse("logout"))
    _password(client, doctor.username)
    _code(client, "000000" if totp_code(secret, steps_ahead=1) != "000000" else "111111")
    _code(client, totp_code(secret, steps_ahead=1))
    client.post(reverse("logout"))
    _password(client, doctor.username)
    _code(client, recovery)

    portal = AccessLogEntry.Channel.PORTAL
    assert _mfa_log(doctor) == [
        (doctor.username, Event.MFA_ENROLLED, portal, ""),
        (doctor.username, Event.MFA_RECOVERY_CODES_RENEWED, portal, ""),
        (doctor.username, Event.MFA_RECOVERY_CODES_RENEWED, portal, ""),
        (doctor.username, Event.MFA_FAILED, portal, ""),
        (doctor.username, Event.MFA_VERIFIED, portal, ""),
        (doctor.username, Event.MFA_RECOVERY_CODE_USED, portal, ""),
    ]
    enrolled = AccessLogEntry.objects.get(viewer=doctor, action=Event.MFA_ENROLLED)
    assert enrolled.address == "203.0.113.7" and enrolled.what == AccessLogEntry.What.ACCOUNT


def test_a_reset_by_clinic_staff_names_both(client):
    staff = make_admin()
    staff_device, _ = make_enrolled(staff)
    doctor = make_doctor().user
    make_enrolled(doctor)
    _password(client, staff.username)
    _code(client, totp_code(staff_device.key, steps_ahead=1))
    client.post(
        "/admin/visits/user/",
        {"action": "reset_two_step_sign_in", "_selected_action": [doctor.pk]},
    )
    assert (
        staff.username,
        Event.MFA_RESET,
        AccessLogEntry.Channel.ADMIN,
        f"of {doctor.username}",
    ) in (_mfa_log(staff))
