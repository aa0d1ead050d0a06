"""The two relays bench/signaling.py measures the app against speak the room protocol's subset
its load generator drives: a hello on connect, a patient waiting until admitted, `signal` to
the member named with `from` set by the server, `error` frames for the rest."""

import asyncio
import json
import os
import sys

import pytest
from websockets.asyncio.client import connect

from tests.live_server import LiveServer, accepts_connections

pytestmark = pytest.mark.slow


def _relay(module: str, tmp_path) -> LiveServer:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)  # the design's floor on Channels' in-memory layer
    return LiveServer(
        env,
        tmp_path / f"{module}.log",
        command=lambda port: [sys.executable, "-m", module, "--port", str(port)],
        ready=accepts_connections,
        name=module,
    )


async def _frame(socket, frame_type: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if frame["type"] == frame_type:
            return frame


async def _one_visit(port: int) -> None:
    base = f"ws://127.0.0.1:{port}/ws/rooms/room-1/"
    async with connect(f"{base}?role=doctor") as doctor:
        hello = await _frame(doctor, "room.state")
        assert hello["you"]["status"] == "admitted"
        async with connect(f"{base}?role=patient") as patient:
            waiting = await _frame(patient, "room.state")
            assert waiting["you"]["status"] == "waiting"
            patient_id = waiting["you"]["participant_id"]
            await patient.send(json.dumps({"type": "signal", "to": hello["you"]["participant_id"]}))
            assert (await _frame(patient, "error"))["code"] == "not_found"  # not admitted yet
            await doctor.send(json.dumps({"type": "admit", "participant_id": patient_id}))
            admitted = await _frame(patient, "room.state")
            assert admitted["you"]["status"] == "admitted"
            await doctor.send(json.dumps({"type": "signal", "to": patient_id, "data": {"n": 1}}))
            relayed = await _frame(patient, "signal")
            assert relayed == {
                "type": "signal",
                "from": hello["you"]["participant_id"],
                "data": {"n": 1},
            }
            await patient.send("not json")
            assert (await _frame(patient, "error"))["code"] == "bad_frame"


@pytest.mark.parametrize("module", ["bench.signaling_floor", "bench.signaling_channels_floor"])
def test_the_relay_speaks_what_the_load_generator_drives(module, tmp_path):
    relay = _relay(module, tmp_path)
    relay.start()
    try:
        asyncio.run(_one_visit(relay.port))
    finally:
        relay.stop()
