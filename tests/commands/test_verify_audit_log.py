"""`manage.py verify_audit_log`: 0 and the head hash for an intact chain; an error naming the
first entry that is not, for an edited row and for a deleted one; an anchor no longer in the
chain is an error too."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.access_log_tamper import past_the_trigger
from tests.factories import make_appointment
from visits.services import record_access

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries():
    visit = make_appointment()
    return [
        record_access(
            viewer=visit.doctor.user, what="note", action="view", channel="api", appointment=visit
        )
        for _ in range(3)
    ]


def _verify(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue().strip()


def test_an_intact_chain_reports_its_length_and_head(entries):
    assert _verify() == f"3 entries, chain intact, head {entries[-1].entry_hash}"


def test_an_empty_log_is_intact(db):
    assert _verify() == "0 entries, chain intact, head -"


def test_an_edited_row_is_named(entries):
    # Past the append-only trigger on purpose: an attacker with database access.
    past_the_trigger(
        "UPDATE visits_accesslogentry SET action = %s WHERE id = %s", ["list", entries[1].pk]
    )
    with pytest.raises(CommandError, match=rf"broken at entry {entries[1].pk}: its hash does not"):
        _verify()


def test_a_deleted_row_is_named_by_the_break_it_leaves(entries):
    past_the_trigger("DELETE FROM visits_accesslogentry WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError, match=rf"broken at entry {entries[2].pk}: the chain breaks"):
        _verify()


def test_a_recorded_head_must_still_be_in_the_chain(entries):
    head = entries[-1].entry_hash
    assert _verify("--anchor", head).startswith("3 entries, chain intact")
    # The tail cut off (the newest entry deleted): the rest still chains, the anchor is gone.
    past_the_trigger("DELETE FROM visits_accesslogentry WHERE id = %s", [entries[-1].pk])
    assert _verify().startswith("2 entries, chain intact")
    with pytest.raises(CommandError, match=f"Anchor {head} is not in the chain"):
        _verify("--anchor", head)
