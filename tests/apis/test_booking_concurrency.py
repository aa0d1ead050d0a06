"""No double booking and no 500 under real concurrency: many patients, each with their own token,
POST the same slot at the same moment over real HTTP to Daphne served as deployed. Every request
gets 201 or 409 (exactly one 201), and the database ends with one appointment in the slot.

It runs on the run's configuration: PostgreSQL when DATABASE_URL names it; otherwise SQLite,
both as the embedded default (SQLITE_PATH) and named by a sqlite:// DATABASE_URL. A lost race
is rare in one burst (the GIL serialises most of a request), so several bursts are fired, each
at a slot of its own.
"""

import json
import threading
from collections import Counter

import pytest
import requests

from tests.live_server import LiveServer, manage, production_environment
from tests.rooms_live.live_stack import (
    create_postgres_database,
    create_sqlite_database,
    env_postgres_url,
)

CLIENTS = 24
BURSTS = 8
SLOT_TAKEN = "That time is no longer free: the doctor already has an appointment then."

# A doctor working 08:00-18:00 every day, and one patient with an access token (signed with the
# server's key) per client.
_SEED = f"""
import json
from rest_framework_simplejwt.tokens import AccessToken
from tests.factories import make_doctor, make_patient, next_day, slot_at

doctor = make_doctor()
day = next_day(days=2)
print("BOOKING_SEED " + json.dumps({{
    "doctor": doctor.id,
    "starts": [slot_at(day, 8 + burst).isoformat() for burst in range({BURSTS})],
    "tokens": [str(AccessToken.for_user(make_patient().user)) for _ in range({CLIENTS})],
}}))
"""

_BOOKED = """
import json
from visits.models import Appointment
print("BOOKED " + json.dumps([
    {"id": a.id, "start": a.start.isoformat(), "status": a.status}
    for a in Appointment.objects.order_by("start")
]))
"""


def _configurations() -> list[str]:
    if env_postgres_url():
        return ["postgresql"]
    return ["sqlite", "sqlite-url"]


def _output_line(output: str, tag: str):
    line = next(line for line in output.splitlines() if line.startswith(f"{tag} "))
    return json.loads(line.removeprefix(f"{tag} "))


@pytest.fixture(scope="module", params=_configurations())
def booking_server(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("booking")
    if request.param == "postgresql":
        database = create_postgres_database(env_postgres_url())
        settings = database.settings
    else:
        database = create_sqlite_database(folder)
        settings = database.settings
        if request.param == "sqlite-url":
            settings = {"DATABASE_URL": f"sqlite:///{settings['SQLITE_PATH']}"}
    server = None
    try:
        env = production_environment(**settings)  # a migrated database (live_stack)
        seed = _output_line(manage(env, "shell", "-c", _SEED), "BOOKING_SEED")
        server = LiveServer(
            env, folder / f"daphne-booking-{request.param}.log", name=f"booking-{request.param}"
        ).start()
        yield server, env, seed
    finally:
        if server:
            server.stop()
        database.drop()


def _burst(url: str, doctor: int, start: str, tokens: list[str]) -> list[tuple[int, object]]:
    """Each token's POST of the same slot, released together; (status, body) per request."""
    barrier = threading.Barrier(len(tokens))
    answers: list[tuple[int, object]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def book(token: str) -> None:
        with requests.Session() as session:
            try:
                # Warm the connection so the barrier releases requests, not TCP handshakes.
                session.get(f"{url}/healthz", timeout=30)
                barrier.wait(timeout=30)
                response = session.post(
                    f"{url}/api/appointments/",
                    json={"doctor": doctor, "start": start, "reason": "Race"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                body = (
                    response.json()
                    if response.headers.get("Content-Type") == "application/json"
                    else response.text[:200]
                )
                with lock:
                    answers.append((response.status_code, body))
            except BaseException as error:  # reported below, not lost in the thread
                barrier.abort()
                with lock:
                    errors.append(error)

    threads = [threading.Thread(target=book, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return answers


def test_concurrent_clients_booking_one_slot_get_one_201_and_the_rest_409(booking_server):
    server, env, seed = booking_server
    statuses_per_burst = []
    booked_ids = []
    for start in seed["starts"]:
        answers = _burst(server.http_url, seed["doctor"], start, seed["tokens"])
        statuses_per_burst.append(Counter(status for status, _ in answers))
        assert all(body == {"detail": SLOT_TAKEN} for status, body in answers if status == 409)
        booked_ids += [body["id"] for status, body in answers if status == 201]

    # Every burst, not just the first one that went wrong: how often a 500 came is the figure.
    others = sum(
        n for c in statuses_per_burst for status, n in c.items() if status not in (201, 409)
    )
    assert statuses_per_burst == [{201: 1, 409: CLIENTS - 1}] * BURSTS, (
        f"{others} of {CLIENTS * BURSTS} requests got neither 201 nor 409: "
        f"{[dict(counts) for counts in statuses_per_burst]}"
    )
    booked = _output_line(manage(env, "shell", "-c", _BOOKED), "BOOKED")
    assert [appointment["id"] for appointment in booked] == booked_ids
    assert [appointment["start"] for appointment in booked] == seed["starts"]
