"""The admin behind two-step sign-in: its login is the portal's two steps, its pages need a
session that passed the second factor, and staff reset a person's second factor (lost phone)."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD, make_admin, make_doctor, make_enrolled, totp_code
from visits.models import Role, User

pytestmark = pytest.mark.django_db

ADMIN_LOGIN, INDEX = reverse("admin:login"), reverse("admin:index")
USERS = reverse("admin:visits_user_changelist")


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_ROLES = ["doctor", "admin"]


def _sign_in_with_code(client, user, device):
    step_one = client.post(ADMIN_LOGIN, {"username": user.username, "password": PASSWORD})
    assert step_one["Location"] == reverse("login-code")
    step_two = client.post(reverse("login-code"), {"code": totp_code(device.key, steps_ahead=1)})
    assert step_two.status_code == 302
    return step_two


def test_the_admin_login_asks_for_the_code_and_then_opens_the_admin(client):
    staff = make_admin()
    device, _ = make_enrolled(staff)
    assert _sign_in_with_code(client, staff, device)["Location"] == INDEX
    assert client.get(INDEX).status_code == 200


def test_a_superuser_counts_as_clinic_staff(client):
    superuser = User.objects.create_superuser(username="root", password=PASSWORD)
    assert superuser.role == Role.PATIENT  # whatever the role field says
    client.post(ADMIN_LOGIN, {"username": superuser.username, "password": PASSWORD})
    assert client.get(INDEX)["Location"].startswith(reverse("mfa-enrol"))


def test_staff_without_a_second_factor_are_sent_to_enrolment_not_the_admin(client):
    client.post(ADMIN_LOGIN, {"username": make_admin().username, "password": PASSWORD})
    assert client.get(INDEX)["Location"].startswith(reverse("mfa-enrol"))


def test_the_site_itself_refuses_a_session_that_did_not_pass_the_second_factor():
    # Behind the gate as a second wall: the admin's own permission check.
    staff = make_admin()
    make_enrolled(staff)
    request = RequestFactory().get(INDEX)
    request.user = staff
    staff.is_verified = lambda: False
    assert not admin.site.has_permission(request)
    staff.is_verified = lambda: True
    assert admin.site.has_permission(request)
    request.user = AnonymousUser()
    assert not admin.site.has_permission(request)


def test_with_no_required_roles_staff_reach_the_admin_with_the_password(client, settings):
    settings.MFA_REQUIRED_ROLES = []
    client.post(ADMIN_LOGIN, {"username": make_admin().username, "password": PASSWORD})
    assert client.get(INDEX).status_code == 200


def test_the_admin_login_still_turns_away_accounts_that_are_not_staff(client):
    doctor = make_doctor().user
    answer = client.post(ADMIN_LOGIN, {"username": doctor.username, "password": PASSWORD})
    assert answer.status_code == 200
    assert "_auth_user_id" not in client.session


def test_staff_reset_a_doctors_second_factor_and_the_doctor_enrols_again(client):
    staff = make_admin()
    staff_device, _ = make_enrolled(staff)
    doctor = make_doctor().user
    make_enrolled(doctor)
    _sign_in_with_code(client, staff, staff_device)
    done = client.post(
        USERS, {"action": "reset_two_step_sign_in", "_selected_action": [doctor.pk]}, follow=True
    )
    assert "Two-step sign-in reset for 1 account" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=doctor).exists()
    assert not StaticDevice.objects.filter(user=doctor).exists()

    client.post(reverse("logout"))
    client.post(reverse("login"), {"username": doctor.username, "password": PASSWORD})
    assert client.get("/")["Location"].startswith(reverse("mfa-enrol"))


def test_staff_may_not_reset_a_superusers_second_factor(client):
    staff = make_admin()
    staff_device, _ = make_enrolled(staff)
    superuser = User.objects.create_superuser(username="root", password=PASSWORD)
    make_enrolled(superuser)
    _sign_in_with_code(client, staff, staff_device)
    refused = client.post(
        USERS, {"action": "reset_two_step_sign_in", "_selected_action": [superuser.pk]}, follow=True
    )
    assert "Nothing was reset" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=superuser).exists()


def test_the_users_list_shows_who_has_two_step_sign_in(client):
    staff = make_admin()
    staff_device, _ = make_enrolled(staff)
    _sign_in_with_code(client, staff, staff_device)
    page = client.get(USERS)
    assert "Two-step sign-in" in page.content.decode()
    rows = {user.username: user.has_two_step for user in page.context["cl"].result_list}
    assert rows[staff.username] is True


def test_nobody_reads_or_makes_devices_in_the_admin():
    # A TOTP secret shown in the admin would be a second factor held by anyone in the admin.
    assert not admin.site.is_registered(TOTPDevice)
    assert not admin.site.is_registered(StaticDevice)
