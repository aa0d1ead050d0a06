"""Migration 0008 chains the access log written before it, in id order, and from then on the
database refuses to change a row."""

import pytest
from django.db import DatabaseError, transaction

from tests.factories import at, make_appointment
from tests.models.test_records_migration import _migrate, back_to_latest_afterwards  # noqa: F401
from visits.models import AccessLogEntry
from visits.services.access_log import chain_verify

BEFORE = [("visits", "0007_note_signing_and_record_export")]
AFTER = [("visits", "0008_access_log_chain_address_security_events")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest_afterwards")
def test_the_entries_before_the_chain_are_chained_in_id_order():
    visit = make_appointment(start=at(days=1))
    old = _migrate(BEFORE)
    OldEntry = old.get_model("visits", "AccessLogEntry")
    for action in ("view", "list", "update"):
        OldEntry.objects.create(
            viewer_id=visit.doctor.user_id,
            viewer_role="doctor",
            patient_id=visit.patient_id,
            appointment_id=visit.pk,
            what="chart",
            action=action,
            channel="api",
        )
    _migrate(AFTER)
    report = chain_verify()
    assert (report.entries, report.broken_at) == (3, None)
    entries = list(AccessLogEntry.objects.order_by("pk"))
    assert entries[0].prev_hash == "" and entries[1].prev_hash == entries[0].entry_hash
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLogEntry.objects.filter(pk=entries[0].pk).update(action="view")
