import pytest

from clinic.errors import PermissionDeniedError
from tests.factories import make_admin, make_user
from visits.models import Role, User
from visits.services import (
    CLINIC_STAFF_GROUP,
    user_account_check_change,
    user_may_manage_account,
    user_sync_role_rights,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    superuser = make_admin()
    superuser.is_superuser = True
    superuser.save()
    return {
        "staff": make_admin(),
        "superuser": superuser,
        "other staff": make_admin(),
        "doctor": make_user(Role.DOCTOR),
        "patient": make_user(Role.PATIENT),
    }


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("staff", "superuser", False),
        ("staff", "other staff", False),
        ("staff", "staff", False),
        ("staff", "doctor", True),
        ("staff", "patient", True),
        ("superuser", "other staff", True),
        ("superuser", "superuser", True),
        ("superuser", "patient", True),
    ],
)
def test_who_may_manage_whose_account(people, actor, target, allowed):
    assert user_may_manage_account(actor=people[actor], target=people[target]) is allowed


def test_staff_may_not_save_a_privileged_account(people):
    target = people["superuser"]
    stored = User.objects.get(pk=target.pk)
    target.first_name = "Renamed"
    with pytest.raises(PermissionDeniedError, match="Only a superuser"):
        user_account_check_change(actor=people["staff"], stored=stored, changed=target)


@pytest.mark.parametrize("change", ["role", "is_staff", "is_superuser"])
@pytest.mark.parametrize("adding", [False, True])
def test_staff_may_not_make_anyone_privileged(people, change, adding):
    target = people["patient"]
    stored = None if adding else User.objects.get(pk=target.pk)
    if change == "role":
        target.role = Role.ADMIN
    else:
        setattr(target, change, True)
    with pytest.raises(PermissionDeniedError, match="Only a superuser"):
        user_account_check_change(actor=people["staff"], stored=stored, changed=target)


def test_staff_may_save_patients_and_superusers_anyone(people):
    patient = people["patient"]
    stored = User.objects.get(pk=patient.pk)
    patient.role = Role.DOCTOR
    user_account_check_change(actor=people["staff"], stored=stored, changed=patient)
    patient.role = Role.ADMIN
    user_account_check_change(actor=people["superuser"], stored=stored, changed=patient)


def test_leaving_the_staff_role_leaves_the_staff_group(people):
    staff = people["other staff"]
    assert staff.groups.filter(name=CLINIC_STAFF_GROUP).exists()
    staff.role = Role.PATIENT
    user_sync_role_rights(staff)
    staff = User.objects.get(pk=staff.pk)
    assert not staff.is_staff
    assert not staff.groups.exists()
    assert not staff.has_perm("visits.change_user")
