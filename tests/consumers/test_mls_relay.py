"""The room socket as MLS's delivery service (docs/protocol.md, "End-to-end encryption"): the
E2EE switch, and `mls` frames relayed unread to whom their kind names, among admitted
participants only."""

import base64
import os

import pytest
from asgiref.sync import sync_to_async

from rooms.models import VisitEncryption
from rooms.protocol import MAX_MLS_MESSAGE_CHARS
from tests.consumers.conftest import connect, frames_before, frames_until, roles

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _message(size: int = 300) -> str:
    return base64.b64encode(os.urandom(size)).decode()


async def _in_call(visit, *, e2ee: bool = True):
    """The doctor and the admitted patient, with E2EE turned on for the visit if asked."""
    doctor = await connect(visit.doctor.user, visit.room_id)
    doctor_state = await frames_until(doctor, "room.state")
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    await doctor.send_json_to({"type": "admit", "participant_id": waiting["you"]["participant_id"]})
    await frames_until(patient, "room.state", where=lambda s: s["you"]["status"] == "admitted")
    if e2ee:
        await doctor.send_json_to({"type": "e2ee.on"})
        await frames_until(patient, "room.state", where=lambda s: s["e2ee"]["on"])
        await frames_until(doctor, "room.state", where=lambda s: s["e2ee"]["on"])
    return doctor, doctor_state["you"]["participant_id"], patient, waiting["you"]["participant_id"]


async def test_the_doctor_turns_it_on_for_the_visit_and_everyone_is_told(visit):
    doctor, _, patient, _ = await _in_call(visit, e2ee=False)
    await doctor.send_json_to({"type": "ping"})
    state = await frames_until(doctor, "room.state")
    assert state["e2ee"] == {"mode": "optional", "on": False}
    await patient.send_json_to({"type": "e2ee.on"})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    assert not await sync_to_async(VisitEncryption.objects.exists)()

    await doctor.send_json_to({"type": "e2ee.on"})
    told = await frames_until(patient, "room.state", where=lambda s: s["e2ee"]["on"])
    assert told["e2ee"] == {"mode": "optional", "on": True}
    row = await sync_to_async(VisitEncryption.objects.get)(appointment=visit)
    assert row.turned_on_by_id == visit.doctor.user_id
    # Once on, on for the visit: a reconnect finds it on.
    await patient.disconnect()
    again = await connect(visit.patient.user, visit.room_id)
    assert (await frames_until(again, "room.state"))["e2ee"]["on"] is True


async def test_mls_frames_are_refused_until_the_visit_is_encrypted(visit):
    doctor, _, patient, patient_id = await _in_call(visit, e2ee=False)
    await patient.send_json_to({"type": "mls", "kind": "key_package", "data": _message()})
    assert (await frames_until(patient, "error"))["code"] == "e2ee_off"
    await doctor.send_json_to({"type": "mls", "kind": "welcome", "to": patient_id, "data": "AAAA"})
    assert (await frames_until(doctor, "error"))["code"] == "e2ee_off"


async def test_each_kind_reaches_whom_it_names_unchanged_with_a_server_set_sender(visit):
    doctor, doctor_id, patient, patient_id = await _in_call(visit)
    key_package = _message(30_000)
    await patient.send_json_to(
        {"type": "mls", "kind": "key_package", "data": key_package, "from": "forged"}
    )
    relayed = await frames_until(doctor, "mls")
    assert relayed == {
        "type": "mls",
        "from": patient_id,
        "kind": "key_package",
        "data": key_package,
    }

    welcome, commit = _message(), _message()
    await doctor.send_json_to({"type": "mls", "kind": "welcome", "to": patient_id, "data": welcome})
    await doctor.send_json_to({"type": "mls", "kind": "commit", "data": commit})
    await doctor.send_json_to({"type": "mls", "kind": "request"})
    got = [await frames_until(patient, "mls") for _ in range(3)]
    assert got == [
        {"type": "mls", "from": doctor_id, "kind": "welcome", "data": welcome},
        {"type": "mls", "from": doctor_id, "kind": "commit", "data": commit},
        {"type": "mls", "from": doctor_id, "kind": "request", "data": ""},
    ]
    # The doctor's own messages never come back to it.
    await patient.send_json_to({"type": "mls", "kind": "key_package", "data": "QUJD"})
    before, _ = await frames_before(doctor, "mls", where=lambda f: f["data"] == "QUJD")
    assert [f for f in before if f["type"] == "mls"] == []


async def test_only_the_doctor_commits_and_only_members_send_key_packages(visit):
    doctor, doctor_id, patient, _ = await _in_call(visit)
    for kind in ("welcome", "commit", "request"):
        frame = {"type": "mls", "kind": kind, "data": _message(), "to": doctor_id}
        await patient.send_json_to(frame)
        assert (await frames_until(patient, "error"))["code"] == "forbidden", kind
    await doctor.send_json_to({"type": "mls", "kind": "key_package", "data": _message()})
    assert (await frames_until(doctor, "error"))["code"] == "forbidden"
    await doctor.send_json_to({"type": "mls", "kind": "welcome", "to": "nobody", "data": "AAAA"})
    assert (await frames_until(doctor, "error"))["code"] == "not_found"
    await patient.send_json_to({"type": "ping"})
    before, _ = await frames_before(patient, "pong")
    assert [f for f in before if f["type"] == "mls"] == []


async def test_a_waiting_patient_neither_sends_nor_receives_them(visit, settings):
    settings.E2EE = "required"
    doctor = await connect(visit.doctor.user, visit.room_id)
    doctor_state = await frames_until(doctor, "room.state")
    assert doctor_state["e2ee"] == {"mode": "required", "on": True}
    patient = await connect(visit.patient.user, visit.room_id)
    waiting = await frames_until(patient, "room.state")
    assert waiting["e2ee"]["on"] is True  # told before entering that the call is encrypted
    await patient.send_json_to({"type": "mls", "kind": "key_package", "data": _message()})
    assert (await frames_until(patient, "error"))["code"] == "forbidden"
    await frames_until(doctor, "room.state", where=lambda s: "patient" in roles(s))
    await doctor.send_json_to({"type": "mls", "kind": "request"})
    await doctor.send_json_to({"type": "mls", "kind": "commit", "data": _message()})
    await doctor.send_json_to(
        {"type": "mls", "kind": "welcome", "to": waiting["you"]["participant_id"], "data": "AAAA"}
    )
    assert (await frames_until(doctor, "error"))["code"] == "not_found"
    await patient.send_json_to({"type": "ping"})
    before, _ = await frames_before(patient, "pong")
    assert [f for f in before if f["type"] == "mls"] == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"kind": "hello", "data": "AAAA"}, "invalid_field"),
        ({"data": "AAAA"}, "invalid_field"),
        ({"kind": "commit"}, "missing_field"),
        ({"kind": "commit", "data": ""}, "invalid_field"),
        ({"kind": "commit", "data": "not base64!"}, "invalid_field"),
        ({"kind": "commit", "data": "AAA"}, "invalid_field"),  # not a multiple of 4
        ({"kind": "commit", "data": 1234}, "invalid_field"),
        ({"kind": "commit", "data": "A" * (MAX_MLS_MESSAGE_CHARS + 4)}, "invalid_field"),
        ({"kind": "welcome", "data": "AAAA"}, "missing_field"),
    ],
)
async def test_malformed_mls_frames_get_an_error_and_the_socket_stays_open(visit, frame, code):
    doctor, *_ = await _in_call(visit)
    await doctor.send_json_to({"type": "mls", **frame})
    assert (await frames_until(doctor, "error"))["code"] == code
    await doctor.send_json_to({"type": "ping"})
    before, _ = await frames_before(doctor, "pong")
    assert not [f for f in before if f["type"] == "error"]


async def test_a_burst_of_mls_frames_is_rate_limited(visit):
    doctor, _, patient, _ = await _in_call(visit)
    for _ in range(30):
        await patient.send_json_to({"type": "mls", "kind": "key_package", "data": "AAAA"})
    error = await frames_until(patient, "error")
    assert error["code"] == "rate_limited"
    relayed = 0
    await patient.send_json_to({"type": "ping"})
    await frames_until(patient, "pong")
    await doctor.send_json_to({"type": "ping"})
    before, _ = await frames_before(doctor, "pong")
    relayed = len([f for f in before if f["type"] == "mls"])
    assert 15 <= relayed < 30


async def test_the_clinic_can_turn_it_off(visit, settings):
    settings.E2EE = "off"
    doctor, _, _, _ = await _in_call(visit, e2ee=False)
    await doctor.send_json_to({"type": "e2ee.on"})
    error = await frames_until(doctor, "error")
    assert error["code"] == "e2ee_off"
    assert not await sync_to_async(VisitEncryption.objects.exists)()
