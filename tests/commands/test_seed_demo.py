from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from tests.factories import make_enrolled
from visits import selectors
from visits.models import Allergy, Appointment, Doctor, Medication, Patient, User, WorkingHours

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    models = (User, Doctor, Patient, Appointment, Allergy, Medication, WorkingHours)
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_is_idempotent_and_prints_working_logins(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    first = _counts()
    capsys.readouterr()
    call_command("seed_demo")
    assert _counts() == first
    assert first["User"] == 5 and first["Doctor"] == 2 and first["Patient"] == 2
    assert first["Allergy"] >= 2 and first["Medication"] >= 2 and first["WorkingHours"] > 0

    output = capsys.readouterr().out
    logins = [line.split()[:2] for line in output.splitlines() if line.startswith("  ")]
    assert len(logins) == 5
    for username, password in logins:
        # As the login page does: the sign-in lockout (django-axes) needs the request.
        sign_in = RequestFactory().post("/accounts/login/")
        assert authenticate(sign_in, username=username, password=password) is not None, username
    assert User.objects.get(username="admin").is_superuser


def test_seed_demo_again_lets_the_demo_people_set_up_two_step_sign_in_afresh(settings):
    """A demo phone lost: running it again restores the printed logins, second factor too."""
    settings.DEBUG = True
    call_command("seed_demo")
    doctor = User.objects.get(username="dr.tanaka")
    make_enrolled(doctor)
    call_command("seed_demo")
    assert not selectors.mfa_enrolled(doctor)
    assert not StaticDevice.objects.filter(user=doctor).exists()


def test_seed_demo_has_a_visit_starting_within_minutes(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    now = timezone.now()
    assert Appointment.objects.filter(
        start__gt=now, start__lte=now + timedelta(minutes=10), status="confirmed"
    ).exists()


def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")
    assert User.objects.count() == 0
