"""Sign-ins, failed sign-ins, lockouts and sign-outs on the portal and the admin are security
events in the access log: who (or the username typed), through which door, from where."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, at, make_admin, make_appointment, make_patient
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

PORTAL, ADMIN = reverse("login"), reverse("admin:login")


def _events():
    return list(
        AccessLogEntry.objects.security_events()
        .order_by("pk")
        .values_list("action", "viewer", "viewer_role", "username", "channel", "address")
    )


def _sign_in(client, url, username, password=PASSWORD):
    return client.post(
        url, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR="192.0.2.9"
    )


@pytest.mark.parametrize(("url", "channel"), [(PORTAL, "portal"), (ADMIN, "admin")])
def test_a_sign_in_is_logged_with_its_door_and_address(client, url, channel):
    user = make_admin()
    assert _sign_in(client, url, user.username).status_code == 302
    assert _events() == [("signed_in", user.pk, "admin", user.username, channel, "192.0.2.9")]


@pytest.mark.parametrize(("url", "channel"), [(PORTAL, "portal"), (ADMIN, "admin")])
def test_a_failed_sign_in_is_logged_with_the_username_typed(client, url, channel):
    _sign_in(client, url, "nobody-by-that-name", "wrong")
    assert _events() == [
        ("sign_in_failed", None, "system", "nobody-by-that-name", channel, "192.0.2.9")
    ]


def test_a_lockout_is_logged(client):
    user = make_patient().user
    for _ in range(5):
        _sign_in(client, PORTAL, user.username, "wrong")
    actions = [action for action, *_ in _events()]
    # Axes locks out while the fifth failure is signalled: the two come in either order.
    assert sorted(actions) == ["locked_out"] + ["sign_in_failed"] * 5
    [locked] = [event for event in _events() if event[0] == "locked_out"]
    assert locked[3:] == (user.username, "portal", "192.0.2.9")


def test_a_sign_out_is_logged(client):
    user = make_patient().user
    _sign_in(client, PORTAL, user.username)
    client.post(reverse("logout"), REMOTE_ADDR="192.0.2.10")
    assert _events()[-1] == (
        "signed_out",
        user.pk,
        "patient",
        user.username,
        "portal",
        "192.0.2.10",
    )


def test_behind_a_proxy_the_forwarded_address_is_logged(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = make_patient().user
    client.post(
        PORTAL,
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert _events()[-1][-1] == "198.51.100.20"


def test_a_page_refusing_another_patients_visit_is_logged(client):
    visit = make_appointment(start=at(days=2))
    stranger = make_patient().user
    client.force_login(stranger)
    for path in (
        reverse("portal:reschedule", args=[visit.pk]),
        reverse("rooms:room", args=[visit.room_id]),
    ):
        assert client.get(path, REMOTE_ADDR="192.0.2.9").status_code == 404
    refused = AccessLogEntry.objects.security_events().filter(action="refused").order_by("pk")
    assert list(refused.values_list("viewer", "channel", "record", "address")) == [
        (
            stranger.pk,
            "portal",
            f"GET {reverse('portal:reschedule', args=[visit.pk])}",
            "192.0.2.9",
        ),
        (stranger.pk, "portal", f"GET {reverse('rooms:room', args=[visit.room_id])}", "192.0.2.9"),
    ]


def test_a_page_that_does_not_exist_is_no_refusal(client):
    client.force_login(make_patient().user)
    assert client.get(reverse("portal:reschedule", args=[999999])).status_code == 404
    assert not AccessLogEntry.objects.security_events().filter(action="refused").exists()
