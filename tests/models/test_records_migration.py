"""Migration 0004 keeps the audit trail and the notes written before it: every chart access
becomes an access log entry (a chart view, with its viewer's role), and a saved note's current
text becomes its first kept version."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import at, make_appointment

BEFORE = [("visits", "0003_chartaccess_visitnote")]
AFTER = [("visits", "0004_access_log_note_versions_addenda")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest_afterwards():
    yield
    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest_afterwards")
def test_chart_accesses_and_saved_notes_survive_the_migration():
    visit = make_appointment(start=at(days=1))
    doctor_id, patient_id = visit.doctor.user_id, visit.patient_id
    old = _migrate(BEFORE)
    old.get_model("visits", "ChartAccess").objects.create(
        viewer_id=doctor_id, patient_id=patient_id, appointment_id=visit.pk, channel="api"
    )
    old.get_model("visits", "VisitNote").objects.create(
        appointment_id=visit.pk, plan="Bloods", version=4, updated_by_id=doctor_id
    )
    new = _migrate(AFTER)
    entry = new.get_model("visits", "AccessLogEntry").objects.get()
    assert (
        entry.viewer_id,
        entry.viewer_role,
        entry.patient_id,
        entry.appointment_id,
        entry.what,
        entry.action,
        entry.channel,
    ) == (doctor_id, "doctor", patient_id, visit.pk, "chart", "view", "api")
    note = new.get_model("visits", "VisitNote").objects.get()
    kept = new.get_model("visits", "VisitNoteVersion").objects.get()
    assert (kept.note_id, kept.version, kept.plan, kept.saved_by_id, kept.saved_at) == (
        note.pk,
        4,
        "Bloods",
        doctor_id,
        note.updated_at,
    )
