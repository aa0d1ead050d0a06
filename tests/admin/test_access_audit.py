"""The admin's pages of health data log every look; its access log is append-only."""

import pytest
from django.urls import reverse

from rooms.models import ChatMessage
from tests.factories import at, make_admin, make_appointment
from visits.models import AccessLogEntry, User
from visits.services import (
    appointment_transition,
    visit_note_addendum_add,
    visit_note_save,
    visit_note_sign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return make_admin()


@pytest.fixture
def superuser():
    return User.objects.create_superuser(username="root", password="x", email="root@example.org")


@pytest.fixture
def visit():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    doctor = visit.doctor.user
    visit_note_save(
        user=doctor, appointment_id=visit.pk, sections={"plan": "Fluids"}, base_version=0
    )
    visit_note_save(
        user=doctor, appointment_id=visit.pk, sections={"plan": "Fluids, rest"}, base_version=1
    )
    appointment_transition(user=doctor, appointment_id=visit.pk, action="complete")
    visit_note_addendum_add(user=doctor, appointment_id=visit.pk, text="Called back: better.")
    # The writes above stay in the log (append-only); these tests are about what follows.
    _since["pk"] = AccessLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    return visit


_since = {"pk": 0}


def _entries():
    return list(
        AccessLogEntry.objects.health_data()
        .filter(pk__gt=_since["pk"])
        .order_by("pk")
        .values_list(
            "viewer", "viewer_role", "patient", "appointment", "what", "action", "channel", "record"
        )
    )


@pytest.mark.parametrize(
    ("url_name", "what", "obj_of"),
    [
        ("admin:visits_patient_change", "chart", lambda visit: visit.patient),
        ("admin:visits_appointment_change", "appointment", lambda visit: visit),
        ("admin:visits_visitnote_change", "note", lambda visit: visit.note),
    ],
)
def test_a_change_page_of_health_data_logs_one_view(client, staff, visit, url_name, what, obj_of):
    obj = obj_of(visit)
    client.force_login(staff)
    assert client.get(reverse(url_name, args=[obj.pk])).status_code == 200
    assert _entries() == [
        (
            staff.pk,
            "admin",
            visit.patient_id,
            visit.pk if what != "chart" else None,
            what,
            "view",
            "admin",
            f"{obj._meta.label_lower} {obj.pk}",
        )
    ]


def test_a_chat_message_page_logs_one_view(client, superuser, visit):
    message = ChatMessage.objects.create(appointment=visit, sender=visit.patient.user, text="Hi")
    client.force_login(superuser)
    page = client.get(reverse("admin:rooms_chatmessage_change", args=[message.pk]))
    assert page.status_code == 200
    assert _entries() == [
        (
            superuser.pk,
            "superuser",
            visit.patient_id,
            visit.pk,
            "chat",
            "view",
            "admin",
            f"rooms.chatmessage {message.pk}",
        )
    ]


@pytest.mark.parametrize(
    ("url_name", "what", "model"),
    [
        ("admin:visits_patient_changelist", "chart", "visits.patient"),
        ("admin:visits_appointment_changelist", "appointment", "visits.appointment"),
        ("admin:visits_visitnote_changelist", "note", "visits.visitnote"),
        ("admin:rooms_chatmessage_changelist", "chat", "rooms.chatmessage"),
    ],
)
def test_a_list_of_health_data_logs_one_entry_naming_the_model(
    client, superuser, visit, url_name, what, model
):
    ChatMessage.objects.create(appointment=visit, sender=visit.patient.user, text="Hi")
    client.force_login(superuser)
    assert client.get(reverse(url_name)).status_code == 200
    assert _entries() == [(superuser.pk, "superuser", None, None, what, "list", "admin", model)]


def test_saving_a_patient_in_the_admin_logs_the_update(client, staff, visit):
    patient = visit.patient
    client.force_login(staff)
    url = reverse("admin:visits_patient_change", args=[patient.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    for prefix in ("allergies", "medications", "conditions"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    data["phone"] = "+81 3 0000 0000"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert [(what, action) for *_, what, action, _, _ in _entries()] == [
        ("chart", "view"),
        ("chart", "update"),
    ]


def test_the_note_page_shows_every_version_and_the_addenda_read_only(client, staff, visit):
    client.force_login(staff)
    page = client.get(reverse("admin:visits_visitnote_change", args=[visit.note.pk]))
    content = page.content.decode()
    assert "Fluids, rest" in content and "Called back: better." in content
    inlines = {formset.formset.prefix: formset for formset in page.context["inline_admin_formsets"]}
    assert {"versions", "addenda"} <= set(inlines)
    assert len(inlines["versions"].formset.queryset) == 2
    for formset in inlines.values():
        assert not formset.has_add_permission and not formset.has_change_permission
        assert not formset.has_delete_permission


def test_the_note_page_shows_its_signature_read_only(client, staff, visit):
    visit_note_sign(user=visit.doctor.user, appointment_id=visit.pk, base_version=2)
    visit.note.refresh_from_db()
    client.force_login(staff)
    page = client.get(reverse("admin:visits_visitnote_change", args=[visit.note.pk]))
    content = page.content.decode()
    assert visit.note.signed_hash in content
    assert visit.doctor.user.display_name in content
    fields = page.context["adminform"].form.fields
    assert not {"signed_by", "signed_at", "signed_hash"} & set(fields)  # shown, not editable
    changelist = client.get(reverse("admin:visits_visitnote_changelist"))
    assert 'alt="True"' in changelist.content.decode()  # the "signed" column


def test_the_access_log_is_read_only_even_for_superusers(client, superuser, visit):
    client.force_login(superuser)
    client.get(reverse("admin:visits_patient_change", args=[visit.patient.pk]))
    entry = AccessLogEntry.objects.health_data().get(pk__gt=_since["pk"])
    base = "admin:visits_accesslogentry"
    assert client.get(reverse(f"{base}_changelist")).status_code == 200
    assert client.get(reverse(f"{base}_change", args=[entry.pk])).status_code == 200
    assert client.get(reverse(f"{base}_add")).status_code == 403
    assert client.post(reverse(f"{base}_delete", args=[entry.pk]), {"post": "yes"}).status_code == (
        403
    )
    bulk = client.post(
        reverse(f"{base}_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert AccessLogEntry.objects.filter(pk=entry.pk).exists()
