"""Tampering with the access log as an attacker with database access would: past its
append-only trigger (visits migration 0007), which the tests that edit or delete a row get
round deliberately, as a PostgreSQL superuser (session_replication_role) or by dropping the
SQLite trigger. Inside the test's transaction, so both come back when it rolls back."""

from django.db import connection

TRIGGER = "visits_accesslogentry_append_only"


def past_the_trigger(sql: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
