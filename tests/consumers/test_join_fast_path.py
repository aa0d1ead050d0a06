"""What a join costs the database, pinned by counting (bench/signaling.py has the timings): the
connections of a room in one process share a read of its database parts in flight, and an empty
chat costs one statement."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its connections
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms import services
from rooms.models import ChatMessage
from rooms.selectors import room_access_get
from tests.consumers.conftest import frames_until
from tests.consumers.test_signal_fast_path import _admitted_pair

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_the_connections_of_a_room_read_its_database_parts_once_per_change(
    visit, monkeypatch
):
    doctor, _, patient, _ = await _admitted_pair(visit)
    reads = []
    real_live = services._live

    async def counted(*args):
        reads.append(args)
        # Slow enough for both connections' reads to overlap, as they do under load: only a
        # read in flight is shared.
        await asyncio.sleep(0.3)
        return await real_live(*args)

    monkeypatch.setattr(services, "_live", counted)
    access = await sync_to_async(room_access_get)(user=visit.doctor.user, room_id=visit.room_id)
    await services.broadcast_changed(access)
    for socket in (doctor, patient):
        await frames_until(socket, "room.state")
    assert len(reads) == 1


def _statements(access) -> tuple[list[dict], int]:
    with CaptureQueriesContext(connection) as queries:
        history = services.chat_history.func(access)  # the sync function behind the hop
    return history, len(queries.captured_queries)


async def test_an_empty_chat_is_one_statement_and_a_chat_two(visit):
    access = await sync_to_async(room_access_get)(user=visit.doctor.user, room_id=visit.room_id)
    assert await sync_to_async(_statements)(access) == ([], 1)
    await ChatMessage.objects.acreate(appointment=visit, sender=visit.patient.user, text="Hi")
    history, statements = await sync_to_async(_statements)(access)
    assert [(m["text"], m["sender"]["role"]) for m in history] == [("Hi", "patient")]
    assert statements == 2
