"""One doctor, one appointment at a time: enforced by the database itself.

PostgreSQL gets an exclusion constraint over (doctor, [start, end)); SQLite, which has none,
gets triggers that refuse the same rows. Both raise IntegrityError naming
`appointment_no_overlap`, which visits.services turns into a 409-style ConflictError.
Cancelled appointments release their time, so they are left out of the rule.
"""

from django.db import migrations

POSTGRESQL_FORWARD = [
    # btree_gist lets a GiST index compare doctor_id with "=" beside the range "&&".
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    ALTER TABLE visits_appointment ADD CONSTRAINT appointment_no_overlap
    EXCLUDE USING gist (doctor_id WITH =, tstzrange("start", "end", '[)') WITH &&)
    WHERE (status <> 'cancelled')
    """,
]
POSTGRESQL_BACKWARD = [
    "ALTER TABLE visits_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap",
]

_SQLITE_CLASH = """
    NEW.status <> 'cancelled' AND EXISTS (
        SELECT 1 FROM visits_appointment AS other
        WHERE other.doctor_id = NEW.doctor_id
          AND other.status <> 'cancelled'
          AND other."start" < NEW."end"
          AND other."end" > NEW."start"
          {exclude_self}
    )
"""
_SQLITE_RAISE = (
    "BEGIN SELECT RAISE(ABORT, 'appointment_no_overlap: the doctor already has an "
    "appointment at that time'); END"
)
SQLITE_FORWARD = [
    "CREATE TRIGGER appointment_no_overlap_insert BEFORE INSERT ON visits_appointment "
    f"WHEN {_SQLITE_CLASH.format(exclude_self='')} {_SQLITE_RAISE}",
    'CREATE TRIGGER appointment_no_overlap_update BEFORE UPDATE OF doctor_id, "start", "end", '
    "status ON visits_appointment "
    f"WHEN {_SQLITE_CLASH.format(exclude_self='AND other.id <> NEW.id')} {_SQLITE_RAISE}",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS appointment_no_overlap_insert",
    "DROP TRIGGER IF EXISTS appointment_no_overlap_update",
]

STATEMENTS = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_BACKWARD),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def _run(schema_editor, forward: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(f"No overlap rule written for the {vendor} database.")
    for statement in STATEMENTS[vendor][0 if forward else 1]:
        schema_editor.execute(statement)


def add_rule(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_rule(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("visits", "0001_initial")]

    operations = [migrations.RunPython(add_rule, drop_rule)]
