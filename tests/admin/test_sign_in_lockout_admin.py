"""Clinic staff unlock a locked-out account in the admin: django-axes' access attempts."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from tests.factories import PASSWORD, make_patient, make_user
from visits.models import Role

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def _sign_in(client, username, password):
    body = {"username": username, "password": password}
    return client.post(TOKEN, body, content_type="application/json")


def _lock_out(client, username):
    for _ in range(5):
        _sign_in(client, username, "wrong")
    assert _sign_in(client, username, PASSWORD).status_code == 429


def test_clinic_staff_see_lockouts_and_unlock_by_deleting_the_attempt(client):
    patient = make_patient().user
    _lock_out(client, patient.username)
    attempt = AccessAttempt.objects.get(username=patient.username)

    client.force_login(make_user(Role.ADMIN))
    listing = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert patient.username in listing.content.decode()
    detail = client.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk]))
    assert detail.status_code == 200
    deleted = client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 302
    client.logout()

    assert _sign_in(client, patient.username, PASSWORD).status_code == 200


def test_clinic_staff_may_view_and_delete_attempts_but_not_forge_them(client):
    staff = make_user(Role.ADMIN)
    assert staff.has_perms(["axes.view_accessattempt", "axes.delete_accessattempt"])
    assert staff.has_perms(["axes.view_accesslog", "axes.view_accessfailurelog"])
    assert not staff.has_perm("axes.change_accessattempt")
    assert not staff.has_perm("axes.delete_accesslog")  # the sign-in history stays


def test_patients_cannot_reach_the_lockouts(client):
    client.force_login(make_patient().user)
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 302
