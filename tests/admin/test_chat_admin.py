"""Chat messages are part of the visit's record, as notes are: in the admin nobody, superusers
and staff given the model permissions included, deletes (one or in bulk) or edits one."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from rooms.models import ChatMessage
from tests.factories import at, make_admin, make_appointment

pytestmark = pytest.mark.django_db


def _superuser():
    user = make_admin()
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


def _staff_with_every_chat_permission():
    # Even a staff member a superuser gave every model permission on chat messages.
    user = make_admin()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="rooms"))
    return user


ADMINS = [
    pytest.param(_superuser, id="superuser"),
    pytest.param(_staff_with_every_chat_permission, id="staff"),
]


@pytest.fixture
def message():
    visit = make_appointment(start=at(days=1))
    return ChatMessage.objects.create(appointment=visit, sender=visit.patient.user, text="Hello")


@pytest.mark.parametrize("make_user", ADMINS)
def test_a_chat_message_cannot_be_deleted(client, message, make_user):
    client.force_login(make_user())
    url = reverse("admin:rooms_chatmessage_delete", args=[message.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert ChatMessage.objects.filter(pk=message.pk).exists()


@pytest.mark.parametrize("make_user", ADMINS)
def test_chat_messages_cannot_be_deleted_in_bulk(client, message, make_user):
    client.force_login(make_user())
    url = reverse("admin:rooms_chatmessage_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action at all, so no "Delete selected"
    client.post(url, {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"})
    assert ChatMessage.objects.filter(pk=message.pk).exists()


@pytest.mark.parametrize("make_user", ADMINS)
def test_a_chat_message_cannot_be_edited(client, message, make_user):
    client.force_login(make_user())
    url = reverse("admin:rooms_chatmessage_change", args=[message.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["adminform"].form.fields  # every field is read-only
    assert client.post(url, {"text": "Edited"}).status_code == 403
    message.refresh_from_db()
    assert message.text == "Hello"
