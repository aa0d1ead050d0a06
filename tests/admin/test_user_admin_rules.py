"""Who may manage whose account in the admin (the rule is in visits.services.people).

Every User admin action, taken by a real clinic staff member (the `admin` role, in the Clinic
staff group, not a superuser), against every kind of account: a superuser, another staff member,
the staff member themselves, a doctor and a patient. Staff and superuser accounts are read-only
to them; doctors and patients they manage, without ever touching permissions.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from tests.factories import PASSWORD, make_admin, make_user
from visits.admin import UserAdmin
from visits.models import Role, User
from visits.services import CLINIC_STAFF_GROUP, clinic_staff_group_sync

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"
# "createsuperuser": made by `manage.py createsuperuser`, so with the default (patient) role.
PRIVILEGED = ("superuser", "createsuperuser", "other staff", "self")
MANAGED = ("doctor", "patient")
# Whose password staff may set: a doctor's would open all their patients' charts.
PASSWORD_SETTABLE = ("patient",)
TARGETS = (*PRIVILEGED, *MANAGED)
PERMISSION_LABELS = ("Staff status", "Superuser status", "Groups", "User permissions")


@pytest.fixture
def accounts():
    """The actor (clinic staff, not a superuser) and one account of every kind."""
    clinic_staff_group_sync()  # as post_migrate leaves it
    staff = make_admin()
    assert not staff.is_superuser
    assert staff.groups.filter(name=CLINIC_STAFF_GROUP).exists()
    superuser = make_admin()
    superuser.is_superuser = True
    superuser.save()
    return {
        "actor": staff,
        "superuser": superuser,
        "createsuperuser": User.objects.create_superuser(username="root", password=PASSWORD),
        "other staff": make_admin(),
        "self": staff,
        "doctor": make_user(Role.DOCTOR),
        "patient": make_user(Role.PATIENT),
    }


@pytest.fixture
def staff_client(client, accounts):
    client.force_login(accounts["actor"])
    return client


@pytest.fixture
def powerful_group():
    """A group worth joining: it may edit groups and permissions."""
    group = Group.objects.create(name="Managers")
    group.permissions.set(Permission.objects.filter(content_type__app_label="auth"))
    return group


def _snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    fields = (
        "username",
        "first_name",
        "last_name",
        "email",
        "role",
        "is_active",
        "is_staff",
        "is_superuser",
        "password",
    )
    return {
        **{field: getattr(user, field) for field in fields},
        "groups": set(user.groups.values_list("name", flat=True)),
        "user_permissions": set(user.user_permissions.values_list("codename", flat=True)),
    }


def _change_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": user.role,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else None,
        "is_superuser": "on" if user.is_superuser else None,
        "groups": list(user.groups.values_list("pk", flat=True)),
        "user_permissions": list(user.user_permissions.values_list("pk", flat=True)),
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _url(name: str, user: User | None = None) -> str:
    # Django names the password form's URL after auth.User, whatever the user model.
    prefix = "auth_user" if name == "password_change" else "visits_user"
    return reverse(f"admin:{prefix}_{name}", args=[user.pk] if user else [])


def test_changelist_shows_every_account(staff_client, accounts):
    page = staff_client.get(_url("changelist"))
    assert page.status_code == 200
    listed = set(page.context["cl"].result_list)
    assert {accounts[target] for target in TARGETS} <= listed


@pytest.mark.parametrize("target", TARGETS)
def test_change_page_is_read_only_for_privileged_accounts_and_never_shows_permissions(
    staff_client, accounts, target
):
    user = accounts[target]
    page = staff_client.get(_url("change", user))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is (target in MANAGED)
    assert page.context["has_delete_permission"] is (target in MANAGED)
    html = page.content.decode()
    assert user.password not in html
    for label in PERMISSION_LABELS:
        assert label not in html, label
    # The link to the password form is offered only where the form would open.
    assert ('href="../password/"' in html) is (target in PASSWORD_SETTABLE)


# (form changes, the field that must change for a managed account or None if it must be ignored)
CHANGE_CASES = {
    "first name": ({"first_name": "Renamed"}, {"first_name": "Renamed"}),
    "email": ({"email": "new@example.org"}, {"email": "new@example.org"}),
    "username": ({"username": "taken-over"}, {"username": "taken-over"}),
    "deactivate": ({"is_active": None}, {"is_active": False}),
    "role doctor/patient": (None, None),  # filled in per target below
    "role clinic staff": ({"role": Role.ADMIN}, "refused"),
    "staff status": ({"is_staff": "on"}, {}),
    "superuser status": ({"is_superuser": "on"}, {}),
    "groups": ("groups", {}),
    "user permissions": ("user_permissions", {}),
}


@pytest.mark.parametrize("case", CHANGE_CASES)
@pytest.mark.parametrize("target", TARGETS)
def test_change_post(staff_client, accounts, powerful_group, target, case):
    user = accounts[target]
    changes, expected = CHANGE_CASES[case]
    if case == "role doctor/patient":
        other = Role.PATIENT if user.role == Role.DOCTOR else Role.DOCTOR
        changes, expected = {"role": other}, {"role": other}
    elif changes == "groups":
        changes = {"groups": [powerful_group.pk]}
    elif changes == "user_permissions":
        perms = Permission.objects.filter(codename__in=["change_group", "change_permission"])
        changes = {"user_permissions": [perm.pk for perm in perms]}
    before = _snapshot(user)

    response = staff_client.post(_url("change", user), _change_form(user, **changes))

    if target in PRIVILEGED:
        assert response.status_code == 403
        assert _snapshot(user) == before
    elif expected == "refused":
        assert response.status_code == 200
        assert "role" in response.context["adminform"].form.errors
        assert _snapshot(user) == before
    else:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert _snapshot(user) == {**before, **expected}


@pytest.mark.parametrize("target", TARGETS)
def test_password_form_opens_only_for_patients(staff_client, accounts, target):
    response = staff_client.get(_url("password_change", accounts[target]))
    assert response.status_code == (200 if target in PASSWORD_SETTABLE else 403)


PASSWORD_POSTS = {
    "set": {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    "disable": {"usable_password": "false", "unset-password": "1"},
}


@pytest.mark.parametrize("action", PASSWORD_POSTS)
@pytest.mark.parametrize("target", TARGETS)
def test_password_post(staff_client, accounts, target, action):
    user = accounts[target]
    response = staff_client.post(_url("password_change", user), PASSWORD_POSTS[action])
    user.refresh_from_db()
    if target not in PASSWORD_SETTABLE:
        assert response.status_code == 403
        assert user.check_password(PASSWORD)
    else:
        assert response.status_code == 302
        assert user.check_password(NEW_PASSWORD) is (action == "set")
        assert user.has_usable_password() is (action == "set")


def test_add_page_offers_only_doctor_and_patient_roles(staff_client):
    page = staff_client.get(_url("add"))
    assert page.status_code == 200
    choices = [value for value, _ in page.context["adminform"].form.fields["role"].choices]
    assert sorted(choices) == sorted([Role.DOCTOR, Role.PATIENT])


ADD_EXTRAS = {
    "plain": {},
    "with permission fields": {"is_staff": "on", "is_superuser": "on", "groups": "GROUP"},
}


@pytest.mark.parametrize("extras", ADD_EXTRAS)
@pytest.mark.parametrize("role", Role.values)
def test_add(staff_client, powerful_group, role, extras):
    data = {
        "username": "newcomer",
        "first_name": "New",
        "last_name": "Comer",
        "email": "",
        "role": role,
        "usable_password": "true",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **ADD_EXTRAS[extras],
    }
    if "groups" in data:
        data["groups"] = [powerful_group.pk]
    response = staff_client.post(_url("add"), data)
    created = User.objects.filter(username="newcomer").first()
    if role == Role.ADMIN:
        assert response.status_code == 200
        assert "role" in response.context["adminform"].form.errors
        assert created is None
    else:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert (created.role, created.is_staff, created.is_superuser) == (role, False, False)
        assert not created.groups.exists()


@pytest.mark.parametrize("target", TARGETS)
def test_delete_view(staff_client, accounts, target):
    user = accounts[target]
    confirm_page = staff_client.get(_url("delete", user))
    response = staff_client.post(_url("delete", user), {"post": "yes"})
    if target in PRIVILEGED:
        assert (confirm_page.status_code, response.status_code) == (403, 403)
        assert User.objects.filter(pk=user.pk).exists()
    else:
        assert (confirm_page.status_code, response.status_code) == (200, 302)
        assert not User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize("target", TARGETS)
def test_bulk_delete_action(staff_client, accounts, target):
    user = accounts[target]
    selection = {"action": "delete_selected", "_selected_action": [user.pk]}
    confirm_page = staff_client.post(_url("changelist"), selection)
    response = staff_client.post(_url("changelist"), {**selection, "post": "yes"})
    if target in PRIVILEGED:
        # Refused before the confirmation page, with a message; and refused if confirmed anyway.
        assert confirm_page.status_code == 302
        assert response.status_code in (302, 403)
        assert User.objects.filter(pk=user.pk).exists()
    else:
        assert confirm_page.status_code == 200
        assert response.status_code == 302
        assert not User.objects.filter(pk=user.pk).exists()


def test_bulk_delete_of_a_mixed_selection_deletes_nothing(staff_client, accounts):
    chosen = [accounts["patient"], accounts["superuser"]]
    staff_client.post(
        _url("changelist"),
        {"action": "delete_selected", "_selected_action": [u.pk for u in chosen], "post": "yes"},
    )
    assert User.objects.filter(pk__in=[u.pk for u in chosen]).count() == 2


def test_changelist_offers_the_delete_action_only_through_the_guard(staff_client):
    page = staff_client.get(_url("changelist"))
    actions = dict(page.context["action_form"].fields["action"].choices)
    assert set(actions) == {"", "delete_selected", "reset_two_step_sign_in"}


@pytest.mark.parametrize("target", TARGETS)
def test_history_is_readable(staff_client, accounts, target):
    assert staff_client.get(_url("history", accounts[target])).status_code == 200


def test_staff_change_their_own_password_only_with_the_old_one(staff_client, accounts):
    url = reverse("admin:password_change")
    wrong = staff_client.post(
        url,
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    right = staff_client.post(
        url,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert right.status_code == 302
    accounts["actor"].refresh_from_db()
    assert accounts["actor"].check_password(NEW_PASSWORD)


# The Clinic staff group's own rights.


def test_clinic_staff_group_holds_only_clinic_permissions(accounts):
    group = clinic_staff_group_sync()
    apps = set(group.permissions.values_list("content_type__app_label", flat=True))
    assert apps == {"visits", "axes"}  # axes: seeing and lifting sign-in lockouts only
    axes = set(
        group.permissions.filter(content_type__app_label="axes").values_list("codename", flat=True)
    )
    assert not {codename for codename in axes if codename.startswith(("add_", "change_"))}
    staff = User.objects.get(pk=accounts["actor"].pk)
    for perm in (
        "auth.add_group",
        "auth.change_group",
        "auth.delete_group",
        "auth.view_group",
        "auth.add_permission",
        "auth.change_permission",
        "admin.change_logentry",
    ):
        assert not staff.has_perm(perm), perm


def test_staff_cannot_open_or_edit_groups(staff_client, accounts):
    group = Group.objects.get(name=CLINIC_STAFF_GROUP)
    before = set(group.permissions.all())
    for name, args in (("changelist", []), ("add", []), ("change", [group.pk])):
        assert staff_client.get(reverse(f"admin:auth_group_{name}", args=args)).status_code == 403
    every_permission = list(Permission.objects.values_list("pk", flat=True))
    response = staff_client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": group.name, "permissions": every_permission},
    )
    assert response.status_code == 403
    assert set(group.permissions.all()) == before
    assert staff_client.post(reverse("admin:auth_group_add"), {"name": "x"}).status_code == 403
    assert not Group.objects.filter(name="x").exists()


# Superusers still manage everyone.


@pytest.fixture
def superuser_client(client, accounts):
    client.force_login(accounts["superuser"])
    return client


def test_superusers_set_staff_passwords(superuser_client, accounts):
    staff = accounts["other staff"]
    response = superuser_client.post(_url("password_change", staff), PASSWORD_POSTS["set"])
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)


def test_superusers_promote_and_demote_staff(superuser_client, accounts):
    doctor = accounts["doctor"]
    response = superuser_client.post(_url("change", doctor), _change_form(doctor, role=Role.ADMIN))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _snapshot(doctor)["is_staff"] is True
    assert _snapshot(doctor)["groups"] == {CLINIC_STAFF_GROUP}

    doctor.refresh_from_db()
    response = superuser_client.post(
        _url("change", doctor), _change_form(doctor, role=Role.PATIENT, groups=[])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    demoted = _snapshot(doctor)
    assert (demoted["is_staff"], demoted["groups"]) == (False, set())


def test_demotion_takes_the_staff_group_away_even_if_left_ticked(superuser_client, accounts):
    staff = accounts["other staff"]
    response = superuser_client.post(_url("change", staff), _change_form(staff, role=Role.DOCTOR))
    assert response.status_code == 302, response.context["adminform"].form.errors
    demoted = _snapshot(staff)
    assert (demoted["is_staff"], demoted["groups"]) == (False, set())
    assert not User.objects.get(pk=staff.pk).has_perm("visits.change_user")


def test_superusers_delete_staff(superuser_client, accounts):
    staff = accounts["other staff"]
    response = superuser_client.post(_url("delete", staff), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=staff.pk).exists()


def test_the_save_is_refused_even_if_the_admin_let_the_form_through(
    staff_client, accounts, monkeypatch
):
    # Defence in depth: were the per-account permission check lost, the service still says no.
    monkeypatch.setattr(UserAdmin, "has_change_permission", lambda self, request, obj=None: True)
    superuser = accounts["createsuperuser"]  # the patient role passes the form's role choices
    before = _snapshot(superuser)
    response = staff_client.post(
        _url("change", superuser), _change_form(superuser, email="root@example.org")
    )
    assert response.status_code == 403
    assert _snapshot(superuser) == before
