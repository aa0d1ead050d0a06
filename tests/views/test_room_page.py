import json
import re
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from rooms.protocol import PARSERS, ClientFrame, CloseCode, ServerFrame, page_constants
from tests.factories import at, make_appointment, make_doctor, make_patient

pytestmark = pytest.mark.django_db

ROOM_SCRIPTS = Path(__file__).resolve().parents[2] / "static" / "js" / "room"


def test_the_visits_doctor_and_patient_can_open_its_room(client):
    appointment = make_appointment(start=at(minutes=5), reason="Sore throat")
    url = reverse("rooms:room", args=[appointment.room_id])
    for user in (appointment.doctor.user, appointment.patient.user):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200
        assert b"Sore throat" in response.content


def test_anyone_else_gets_404_not_403(client):
    appointment = make_appointment(start=at(minutes=5))
    url = reverse("rooms:room", args=[appointment.room_id])
    for outsider in (make_patient().user, make_doctor().user):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
    assert client.get(reverse("rooms:room", args=[uuid.uuid4()])).status_code == 404


def test_anonymous_visitors_must_log_in_first(client):
    appointment = make_appointment(start=at(minutes=5))
    response = client.get(reverse("rooms:room", args=[appointment.room_id]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_closed_room_says_why(client):
    appointment = make_appointment(start=at(days=1))
    client.force_login(appointment.patient.user)
    response = client.get(reverse("rooms:room", args=[appointment.room_id]))
    assert b"opens 15 minutes before" in response.content


def _room_config(response) -> dict:
    match = re.search(
        rb'<script id="room-config" type="application/json">(.*?)</script>', response.content
    )
    assert match, "the room page carries its config as json_script"
    return json.loads(match.group(1))


def test_the_room_config_carries_the_protocol_from_its_one_definition(client):
    appointment = make_appointment(start=at(minutes=5))
    client.force_login(appointment.patient.user)
    config = _room_config(client.get(reverse("rooms:room", args=[appointment.room_id])))
    protocol = config["protocol"]
    assert protocol == page_constants()
    assert protocol["closeCodes"] == {code.name: int(code) for code in CloseCode}
    # The codes docs/protocol.md says the page treats as final; the others it reconnects after.
    assert protocol["finalCloseCodes"] == [4000, 4401, 4403, 4404, 4409, 4429]
    assert protocol["serverFrames"]["STATE"] == "room.state"
    assert set(protocol["clientFrames"].values()) == set(PARSERS)


def test_the_room_scripts_repeat_no_close_code_or_frame_type():
    """They read them from the config (rooms/protocol.py page_constants)."""
    sources = {path.name: path.read_text() for path in ROOM_SCRIPTS.glob("*.js")}
    assert "main.js" in sources
    frame_types = {frame.value for frame in ServerFrame} | {frame.value for frame in ClientFrame}
    for name, source in sources.items():
        for code in CloseCode:
            assert not re.search(rf"\b{int(code)}\b", source), f"{name} repeats {int(code)}"
        for frame_type in frame_types:
            literal = re.escape(f'"{frame_type}"')
            assert not re.search(rf"(type:|case)\s*{literal}", source), f"{name}: {frame_type}"


def test_the_doctors_page_says_where_the_transcript_lives_and_the_patients_does_not(
    client, settings
):
    settings.LLM_BASE_URL = None
    appointment = make_appointment(start=at(minutes=5))
    room = reverse("rooms:room", args=[appointment.room_id])
    client.force_login(appointment.doctor.user)
    transcript = _room_config(client.get(room))["transcript"]
    assert transcript == {
        "url": f"/api/appointments/{appointment.id}/transcript/",
        "segmentUrl": "/api/transcript-segments/{id}/",
        "audioSocketPath": f"/ws/rooms/{appointment.room_id}/audio/",
        "draftNoteUrl": None,  # no language model: no "Draft note" button
    }
    client.force_login(appointment.patient.user)
    assert _room_config(client.get(room))["transcript"] is None


def test_the_draft_note_button_comes_with_a_language_model_and_its_key_stays_here(client, settings):
    settings.LLM_BASE_URL = "http://llm.internal:8080/v1"
    settings.LLM_API_KEY = "sk-llm-secret-never-in-a-page"
    settings.OPENAI_API_KEY = "sk-openai-secret-never-in-a-page"
    appointment = make_appointment(start=at(minutes=5))
    client.force_login(appointment.doctor.user)
    response = client.get(reverse("rooms:room", args=[appointment.room_id]))
    transcript = _room_config(response)["transcript"]
    assert transcript["draftNoteUrl"] == f"/api/appointments/{appointment.id}/draft-note/"
    for secret in (b"sk-llm-secret", b"sk-openai-secret", b"llm.internal"):
        assert secret not in response.content
