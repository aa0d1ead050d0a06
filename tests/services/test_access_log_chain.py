"""The access log is a hash chain: every entry carries the previous entry's hash and a hash of
its own over what it says, computed by the database in the insert itself; the database
refuses to change a row; a check walks the chain and names the first entry that is off."""

import threading

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.access_log_tamper import past_the_trigger
from tests.factories import make_appointment
from visits.models import AccessLogEntry
from visits.services import record_access, record_security_event
from visits.services.access_log import CHAINED_FIELDS, chain_hash, chain_verify, entry_payload

Event, Channel = AccessLogEntry.Event, AccessLogEntry.Channel


@pytest.fixture
def visit(db):
    return make_appointment()


def _read(visit, **fields) -> AccessLogEntry:
    return record_access(
        viewer=visit.doctor.user,
        what="chart",
        action="view",
        channel="api",
        appointment=visit,
        **fields,
    )


def _entries(count, visit) -> list[AccessLogEntry]:
    return [_read(visit, record=f"read {n}") for n in range(count)]


def test_each_entry_chains_onto_the_one_before(visit):
    first, second = _read(visit, address="2001:db8::1"), _read(visit, reason="why")
    assert first.prev_hash == "" and len(first.entry_hash) == 64
    assert second.prev_hash == first.entry_hash
    stored = AccessLogEntry.objects.values(*CHAINED_FIELDS, "entry_hash").get(pk=second.pk)
    assert stored["entry_hash"] == chain_hash(first.entry_hash, entry_payload(stored))
    assert chain_verify().broken_at is None


def test_the_hash_covers_every_field_the_entry_says(visit):
    columns = {field.attname for field in AccessLogEntry._meta.concrete_fields}
    assert set(CHAINED_FIELDS) == columns - {"id", "prev_hash", "entry_hash"}
    entry = _read(visit, address="192.0.2.1", record="r", reason="why")
    stored = AccessLogEntry.objects.values(*CHAINED_FIELDS).get(pk=entry.pk)
    for name in CHAINED_FIELDS:
        changed = {**stored, name: "192.0.2.2" if name == "address" else "different"}
        assert chain_hash("", entry_payload(changed)) != entry.entry_hash, name


def test_security_events_are_in_the_same_chain(visit):
    read = _read(visit)
    failed = record_security_event(
        event=Event.SIGN_IN_FAILED, channel=Channel.PORTAL, username="mallory", address="::1"
    )
    assert failed.prev_hash == read.entry_hash
    assert (failed.viewer, failed.viewer_role, failed.what, failed.username) == (
        None,
        "system",
        "account",
        "mallory",
    )
    assert chain_verify().entries == 2


def test_an_append_costs_one_statement_on_sqlite_two_on_postgresql(visit):
    # The lock (PostgreSQL only) and the insert that reads the head and hashes: nothing else.
    with CaptureQueriesContext(connection) as queries:
        _read(visit)
    assert len(queries) == (2 if connection.vendor == "postgresql" else 1)


@pytest.mark.parametrize("statement", ["UPDATE", "DELETE"])
def test_the_database_refuses_to_change_a_row(visit, statement):
    entry = _read(visit)
    if statement == "DELETE" and connection.vendor == "sqlite":
        pytest.skip("SQLite leaves deletion to the chain (the test flush deletes)")
    with pytest.raises(DatabaseError), transaction.atomic():
        if statement == "UPDATE":
            AccessLogEntry.objects.filter(pk=entry.pk).update(reason="nothing to see")
        else:
            AccessLogEntry.objects.filter(pk=entry.pk).delete()
    assert AccessLogEntry.objects.get(pk=entry.pk).reason == ""


def test_an_edited_row_is_named(visit):
    entries = _entries(4, visit)
    past_the_trigger(
        "UPDATE visits_accesslogentry SET reason = %s WHERE id = %s", ["edited", entries[2].pk]
    )
    report = chain_verify()
    assert (report.broken_at, report.entries) == (entries[2].pk, 2)
    assert "edited" in report.problem


def test_an_edit_with_its_hash_recomputed_breaks_the_link_after_it(visit):
    entries = _entries(3, visit)
    stored = AccessLogEntry.objects.values(*CHAINED_FIELDS).get(pk=entries[1].pk)
    forged = chain_hash(entries[1].prev_hash, entry_payload({**stored, "reason": "forged"}))
    past_the_trigger(
        "UPDATE visits_accesslogentry SET reason = %s, entry_hash = %s WHERE id = %s",
        ["forged", forged, entries[1].pk],
    )
    assert chain_verify().broken_at == entries[2].pk


def test_a_deleted_row_breaks_the_chain_at_the_next(visit):
    entries = _entries(4, visit)
    past_the_trigger("DELETE FROM visits_accesslogentry WHERE id = %s", [entries[1].pk])
    report = chain_verify()
    assert report.broken_at == entries[2].pk
    assert "does not follow" in report.problem


def test_reordered_rows_break_the_chain(visit):
    entries = _entries(4, visit)
    first, second = entries[1].pk, entries[2].pk
    swap = "UPDATE visits_accesslogentry SET id = %s WHERE id = %s"
    past_the_trigger(swap, [10_000, first])
    past_the_trigger(swap, [first, second])
    past_the_trigger(swap, [second, 10_000])
    assert chain_verify().broken_at == first


def test_the_walk_reads_in_chunks(visit):
    _entries(5, visit)
    assert chain_verify(chunk_size=2).entries == 5


@pytest.mark.django_db(transaction=True)
def test_a_writer_waits_for_the_one_holding_the_head_so_the_chain_never_forks():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transactions serialize writers themselves")
    visit = make_appointment()
    done = threading.Event()

    def second_writer():
        try:
            _read(visit, record="second")
        finally:
            connection.close()
            done.set()

    with transaction.atomic():
        first = _read(visit, record="first")
        writer = threading.Thread(target=second_writer)
        writer.start()
        # Until the second writer waits on the chain's lock (or, without one, has finished).
        with connection.cursor() as cursor:
            while not done.is_set():
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
    writer.join()
    second = AccessLogEntry.objects.get(record="second")
    assert second.prev_hash == first.entry_hash
    assert chain_verify().broken_at is None


@pytest.mark.parametrize(("path", "channel"), [("/admin/login/", "admin"), ("/login/", "portal")])
def test_an_mfa_step_is_logged_with_the_requests_channel_and_address(rf, visit, path, channel):
    from visits.services import record_request_security_event

    user = visit.doctor.user
    request = rf.post(path, REMOTE_ADDR="192.0.2.30")
    entry = record_request_security_event(event=Event.MFA_VERIFIED, request=request, user=user)
    assert (entry.action, entry.viewer, entry.username, entry.channel, entry.address) == (
        "mfa_verified",
        user,
        user.username,
        channel,
        "192.0.2.30",
    )
