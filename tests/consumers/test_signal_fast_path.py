"""The relay's fast path, pinned by counting what a relayed frame costs (bench/signaling.py has
the timings): no shared-state read, no thread hop, one channel-layer send (one Redis command),
and the room version that lets a connection catch up with an event the layer lost."""

import pytest
from asgiref import sync
from django.conf import settings

from rooms import consumers, services
from rooms.state import get_room_state_store
from tests.consumers.conftest import connect, frames_until, roles

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FRAMES = 20
STORE_READS = ("get", "participants", "participants_versioned", "version", "silent_since")


async def _admitted_pair(visit):
    doctor = await connect(visit.doctor.user, visit.room_id)
    await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    patient_id = waiting["you"]["participant_id"]
    await doctor.send_json_to({"type": "admit", "participant_id": patient_id})
    await frames_until(patient, "room.state", where=lambda s: s["you"]["status"] == "admitted")
    told = await frames_until(
        doctor,
        "room.state",
        where=lambda s: any(p["status"] == "admitted" for p in s["participants"][1:]),
    )
    doctor_id = told["you"]["participant_id"]
    return doctor, doctor_id, patient, patient_id


@pytest.fixture
def quiet_connections(monkeypatch):
    """No touch and no sweep while frames are counted: they have their own rates."""
    monkeypatch.setattr(consumers, "TOUCH_SECONDS", 3600)
    monkeypatch.setattr(consumers, "SWEEP_SECONDS", 3600)
    monkeypatch.setattr(settings, "ROOM_SILENCE_TIMEOUT_SECONDS", 100_000)


async def _relay(doctor, patient, patient_id: str) -> None:
    for number in range(FRAMES):
        await doctor.send_json_to({"type": "signal", "to": patient_id, "data": {"n": number}})
    for number in range(FRAMES):
        relayed = await frames_until(patient, "signal")
        assert relayed["data"] == {"n": number}


async def test_a_relayed_signal_reads_no_room_state_and_hops_to_no_thread(
    visit, monkeypatch, quiet_connections
):
    doctor, _, patient, patient_id = await _admitted_pair(visit)
    store = get_room_state_store()
    reads, hops = [], []
    for name in STORE_READS:
        real = getattr(store, name)

        async def counted(*args, _real=real, _name=name, **kwargs):
            reads.append(_name)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)
    real_call = sync.SyncToAsync.__call__

    async def counted_hop(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await real_call(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted_hop)

    await _relay(doctor, patient, patient_id)
    assert reads == []
    assert hops == []


@pytest.mark.skipif(not settings.REDIS_URL, reason="counts Redis commands")
async def test_a_relayed_signal_is_one_redis_command(visit, monkeypatch, quiet_connections):
    import redis.asyncio

    doctor, _, patient, patient_id = await _admitted_pair(visit)
    commands = []
    real_execute = redis.asyncio.Redis.execute_command

    async def counted(self, *args, **options):
        commands.append(args[0])
        return await real_execute(self, *args, **options)

    monkeypatch.setattr(redis.asyncio.Redis, "execute_command", counted)
    await _relay(doctor, patient, patient_id)
    assert commands == ["PUBLISH"] * FRAMES


async def test_a_signal_from_a_connection_the_room_no_longer_admits_is_refused(
    visit, quiet_connections
):
    """The relay trusts the room view its connection holds; that view follows every change."""
    doctor, _, patient, patient_id = await _admitted_pair(visit)
    await doctor.send_json_to({"type": "remove", "participant_id": patient_id})
    await frames_until(patient, "room.removed")
    await frames_until(doctor, "room.state", where=lambda s: roles(s) == ["doctor"])
    await doctor.send_json_to({"type": "signal", "to": patient_id, "data": {"late": True}})
    refused = await frames_until(doctor, "error")
    assert refused["code"] == "not_found"


async def test_an_event_the_layer_lost_is_caught_up_by_the_sweep(visit, monkeypatch):
    """Redis's pub/sub keeps nothing for a process that is reconnecting: the room's version
    tells the connection that it missed something, and it reads the room (chat included)."""
    monkeypatch.setattr(consumers, "SWEEP_SECONDS", 0.2)
    doctor, _, patient, _ = await _admitted_pair(visit)
    real_group_send = services._group_send

    async def lost_chat(group, event):
        if event["type"] != "room.chat":
            await real_group_send(group, event)

    monkeypatch.setattr(services, "_group_send", lost_chat)
    await doctor.send_json_to({"type": "chat", "text": "Did you get this?", "client_id": "c1"})
    acknowledged = await frames_until(doctor, "chat")
    caught_up = await frames_until(patient, "room.state", where=lambda s: "chat" in s)
    assert [m["id"] for m in caught_up["chat"]] == [acknowledged["id"]]
    # Caught up: no further state for the same version.
    assert await patient.receive_nothing(timeout=1)


async def test_the_connections_of_one_room_share_its_sweep():
    sweeps = consumers.RoomSweeps()
    sweeps.enter("room-a")
    sweeps.enter("room-a")
    assert sweeps.due("room-a", 5.0)
    assert not sweeps.due("room-a", 5.0)  # the other connection's tick, moments later
    sweeps.leave("room-a")
    assert not sweeps.due("room-a", 5.0)
    sweeps.leave("room-a")
    assert sweeps.due("room-a", 5.0)  # nobody here any more: nothing kept, nothing shared
