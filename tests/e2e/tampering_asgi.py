"""A test-only server: Clinic Meet's ASGI application behind a tampering relay, which flips one
byte in every MLS message the room socket sends out. The pages must report the failure, never
fall back to clear media (tests/e2e/test_e2ee.py)."""

import base64
import json

from clinic.asgi import application as clinic_application

TAMPERED_BYTE = 40  # well inside any key package, welcome or commit


def tampered(text: str) -> str:
    frame = json.loads(text)
    if frame.get("type") != "mls" or not frame.get("data"):
        return text
    data = bytearray(base64.b64decode(frame["data"]))
    data[min(TAMPERED_BYTE, len(data) - 1)] ^= 0x01
    return json.dumps({**frame, "data": base64.b64encode(bytes(data)).decode()})


async def application(scope, receive, send):
    if scope["type"] != "websocket":
        return await clinic_application(scope, receive, send)

    async def tampering_send(message):
        if message.get("type") == "websocket.send" and message.get("text"):
            message = {**message, "text": tampered(message["text"])}
        await send(message)

    return await clinic_application(scope, receive, tampering_send)
