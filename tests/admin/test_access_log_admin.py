"""The access log in the admin: staff filter it and export what they filtered as CSV (an
export is itself logged); nobody adds, changes or deletes an entry there."""

import csv
import io

import pytest
from django.urls import reverse

from tests.factories import make_admin, make_appointment, make_patient
from visits.models import AccessLogEntry
from visits.services import record_access, record_security_event

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:visits_accesslogentry_changelist")
EXPORT = reverse("admin:visits_accesslogentry_export")
Event, Channel = AccessLogEntry.Event, AccessLogEntry.Channel


@pytest.fixture
def staff(client):
    staff = make_admin()
    client.force_login(staff)
    return staff


@pytest.fixture
def visit():
    return make_appointment()


def _chart_read(visit, **fields):
    return record_access(
        viewer=visit.doctor.user,
        what="chart",
        action="view",
        channel=Channel.API,
        appointment=visit,
        **fields,
    )


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="access-log-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_holds_what_the_filters_select_in_chain_order(client, staff, visit):
    reads = [_chart_read(visit, address="192.0.2.7") for _ in range(3)]
    record_security_event(event=Event.SIGN_IN_FAILED, channel=Channel.PORTAL, username="mallory")
    rows = _rows(client.get(EXPORT, {"kind": "health_data"}))
    export = AccessLogEntry.objects.get(action="export")  # logged first: it is in the export
    assert [int(row["id"]) for row in rows] == [read.pk for read in reads] + [export.pk]
    first = rows[0]
    assert first["viewer"] == visit.doctor.user.username
    assert first["patient_mrn"] == visit.patient.medical_record_number
    assert first["address"] == "192.0.2.7"
    assert first["entry_hash"] == reads[0].entry_hash
    assert rows[1]["prev_hash"] == reads[0].entry_hash


def test_the_export_follows_the_search_and_the_security_filter(client, staff, visit):
    _chart_read(visit)
    failed = record_security_event(
        event=Event.SIGN_IN_FAILED, channel=Channel.PORTAL, username="mallory"
    )
    record_security_event(event=Event.SIGN_IN_FAILED, channel=Channel.PORTAL, username="eve")
    rows = _rows(client.get(EXPORT, {"kind": "security", "q": "mallory"}))
    assert [(int(row["id"]), row["action"]) for row in rows] == [(failed.pk, "sign_in_failed")]


def test_an_export_is_logged_with_its_filters(client, staff, visit):
    _rows(client.get(EXPORT, {"what": "chart"}, REMOTE_ADDR="198.51.100.4"))
    export = AccessLogEntry.objects.get(action="export")
    assert (export.viewer, export.what, export.channel, export.address) == (
        staff,
        "access_log",
        "admin",
        "198.51.100.4",
    )
    assert export.reason == "CSV export, filters: what=chart"


def test_free_text_cannot_become_a_spreadsheet_formula(client, staff):
    record_security_event(
        event=Event.SIGN_IN_FAILED, channel=Channel.PORTAL, username='=HYPERLINK("x")'
    )
    [row] = _rows(client.get(EXPORT, {"kind": "security", "action": "sign_in_failed"}))
    assert row["username_given"] == '\'=HYPERLINK("x")'


def test_the_changelist_offers_the_export_of_its_filters(client, staff, visit):
    _chart_read(visit)
    page = client.get(CHANGELIST, {"what": "chart"})
    assert f'href="{EXPORT}?what=chart"' in page.content.decode()


def test_the_filters_include_kind_and_who(client, staff, visit):
    _chart_read(visit)
    record_security_event(event=Event.LOCKED_OUT, channel=Channel.PORTAL, username="x")
    page = client.get(CHANGELIST, {"kind": "security"})
    # The staff's own sign-in (force_login) is a security event too.
    assert [entry.action for entry in page.context["cl"].result_list] == [
        "locked_out",
        "signed_in",
    ]
    page = client.get(CHANGELIST, {"viewer__id__exact": visit.doctor.user.pk})
    assert [entry.what for entry in page.context["cl"].result_list] == ["chart"]


def test_someone_not_staff_cannot_export(client, visit):
    client.force_login(make_patient().user)
    response = client.get(EXPORT)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not AccessLogEntry.objects.filter(action="export").exists()


def test_nobody_may_add_change_or_delete_an_entry_in_the_admin(client, visit, rf):
    from django.contrib import admin

    from visits.models import User

    root = User.objects.create_superuser(username="root", password="x", email="r@example.org")
    request = rf.get(CHANGELIST)
    request.user = root
    entry = _chart_read(visit)
    model_admin = admin.site._registry[AccessLogEntry]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert model_admin.has_view_permission(request, entry)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_a_long_log_streams_in_batches_sync_and_async(client, staff, visit, monkeypatch):
    from asgiref.sync import async_to_sync

    from visits import admin_audit

    monkeypatch.setattr(admin_audit, "EXPORT_BATCH", 2)
    reads = [_chart_read(visit) for _ in range(5)]
    wanted = [str(read.pk) for read in reads]
    queryset = AccessLogEntry.objects.filter(what="chart")
    sync_chunks = list(admin_audit.access_log_csv(queryset))

    async def collect():
        return [chunk async for chunk in admin_audit.access_log_csv_async(queryset)]

    async_chunks = async_to_sync(collect)()
    assert len(sync_chunks) == 1 + 3  # the header, then batches of 2, 2 and 1
    assert async_chunks == sync_chunks
    rows = list(csv.DictReader(io.StringIO(b"".join(sync_chunks).decode())))
    assert [row["id"] for row in rows] == wanted
