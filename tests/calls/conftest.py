"""A scriptable HTTP stand-in for failure cases the real protocol stand-in (the local SFU) never
produces on its own: 5xx bursts, slow answers, a wrong secret. Real sockets, real HTTP."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync

from rooms.state import Participant, get_room_state_store


class ScriptedCalls:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, float]] = []  # (status, body, delay) per request
        self.default = (201, {"sessionId": "s-default"}, 0.0)

    def then(self, status: int, body: dict | None = None, delay: float = 0.0) -> "ScriptedCalls":
        self.script.append((status, body or {}, delay))
        return self

    def next_answer(self):
        return self.script.pop(0) if self.script else self.default


@pytest.fixture
def scripted_calls():
    calls = ScriptedCalls()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            calls.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": json.loads(raw) if raw else None,
                }
            )
            status, body, delay = calls.next_answer()
            time.sleep(delay)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    calls.base_url = f"http://127.0.0.1:{server.server_port}/v1"
    yield calls
    server.shutdown()
    server.server_close()


PROXY_SECRET = "calls-app-secret-never-in-a-response"


@pytest.fixture
def calls_on(settings, scripted_calls):
    """Calls mode, the app's Calls requests going to the scripted stand-in."""
    settings.CALLS_APP_ID = "app1"
    settings.CALLS_APP_SECRET = PROXY_SECRET
    settings.CALLS_API_URL = scripted_calls.base_url
    return scripted_calls


def enter_room(visit, user, *, status="admitted") -> Participant:
    """Put `user` in the visit's room state, as their room socket would."""
    role = "doctor" if user.id == visit.doctor.user_id else "patient"
    participant = Participant(
        participant_id=f"p{user.id}",
        user_id=user.id,
        display_name=user.display_name,
        role=role,
        status=status,
        channel_name=f"test.{user.id}",
    )
    async_to_sync(get_room_state_store().add)(visit.room_id.hex, participant, 0.0)
    return participant
