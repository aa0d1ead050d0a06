
import django.db.models.deletion
import django.utils.timezone
import visits.models.records
from django.db import migrations, models

from visits.services.access_log import CHAINED_FIELDS, chain_hash, entry_payload


def chain_existing_entries(apps, schema_editor):
    """The entries written before the chain: chained in id order, as if appended so."""
    AccessLogEntry = apps.get_model("visits", "AccessLogEntry")
    prev_hash = ""
    rows = AccessLogEntry.objects.order_by("pk").values("pk", *CHAINED_FIELDS)
    for row in rows.iterator(chunk_size=2000):
        entry_hash = chain_hash(prev_hash, entry_payload(row))
        AccessLogEntry.objects.filter(pk=row["pk"]).update(
            prev_hash=prev_hash, entry_hash=entry_hash
        )
        prev_hash = entry_hash


# Rows are never changed: the database refuses an UPDATE of the log on both backends, and on
# PostgreSQL a DELETE too. SQLite (development, tests) leaves deletion to the chain, since
# Django's test flush empties tables with DELETE. TRUNCATE and a superuser's
# session_replication_role = replica still get past the trigger: that is what the chain is for.
APPEND_ONLY = "visits_accesslogentry_append_only"
POSTGRESQL_APPEND_ONLY = f"""
CREATE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The access log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER {APPEND_ONLY} BEFORE UPDATE OR DELETE ON visits_accesslogentry
    FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY}();
"""
SQLITE_APPEND_ONLY = f"""
CREATE TRIGGER {APPEND_ONLY} BEFORE UPDATE ON visits_accesslogentry
BEGIN
    SELECT RAISE(ABORT, 'The access log is append-only: UPDATE refused');
END;
"""


def append_only_add(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": POSTGRESQL_APPEND_ONLY, "sqlite": SQLITE_APPEND_ONLY}.get(vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no parameters: its "%" is PL/pgSQL's


def append_only_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER {APPEND_ONLY} ON visits_accesslogentry")
        schema_editor.execute(f"DROP FUNCTION {APPEND_ONLY}()")
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER {APPEND_ONLY}")


class Migration(migrations.Migration):

    dependencies = [
        ('visits', '0007_note_signing_and_record_export'),
    ]

    operations = [
        migrations.AddField(
            model_name='accesslogentry',
            name='address',
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='accesslogentry',
            name='entry_hash',
            field=visits.models.records.ChainHashField(default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='accesslogentry',
            name='prev_hash',
            field=visits.models.records.ChainHashField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='accesslogentry',
            name='username',
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='accessed_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='action',
            field=models.CharField(choices=[('view', 'View'), ('list', 'List'), ('create', 'Create'), ('update', 'Update'), ('addendum', 'Addendum'), ('sign', 'Sign'), ('export', 'Export'), ('play', 'Play'), ('download', 'Download'), ('delete', 'Delete'), ('expire', 'Expire'), ('signed_in', 'Signed in'), ('sign_in_failed', 'Sign-in failed'), ('locked_out', 'Locked out'), ('signed_out', 'Signed out'), ('refused', 'Permission refused'), ('mfa_enrolled', 'MFA enrolled'), ('mfa_verified', 'MFA verified'), ('mfa_failed', 'MFA failed'), ('mfa_recovery_code_used', 'MFA recovery code used'), ('mfa_recovery_codes_renewed', 'MFA recovery codes renewed'), ('mfa_reset', 'MFA reset')], max_length=32),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='appointment',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='visits.appointment'),
        ),
        migrations.AlterField(
            model_name='accesslogentry',
            name='what',
            field=models.CharField(choices=[('chart', 'Chart'), ('appointment', 'Appointment'), ('note', 'Visit note'), ('note_history', 'Visit note history'), ('chat', 'Chat'), ('recording', 'Recording'), ('transcript', 'Transcript'), ('draft_note', 'Draft note (AI)'), ('health_record', 'Whole health record'), ('access_log', 'Access log'), ('account', 'Account (security event)')], max_length=16),
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
        migrations.RunPython(append_only_add, append_only_remove),
    ]
