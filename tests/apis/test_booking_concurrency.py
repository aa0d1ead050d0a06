"""No double booking under real concurrency: many patients, each with their own token, POST
the same slot at the same moment over real HTTP; PostgreSQL must end with one appointment."""

import threading
from collections import Counter

import pytest
import requests
from django.db import connection

from tests.factories import make_doctor, make_patient, next_day, slot_at, tokens_for
from visits.models import Appointment

CLIENTS = 24
SLOT_TAKEN = "That time is no longer free: the doctor already has an appointment then."

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server's threads must see the data
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises all writers, so it proves nothing here "
        "(run with DATABASE_URL=postgres://...)",
    ),
]


def test_concurrent_clients_booking_one_slot_get_one_201_and_the_rest_409(live_server):
    doctor = make_doctor()
    start = slot_at(next_day(days=2), 10)
    tokens = [tokens_for(make_patient().user)["access"] for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, dict | str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def book(token: str) -> None:
        with requests.Session() as session:
            # Warm the connection so the barrier releases requests, not TCP handshakes.
            session.get(f"{live_server.url}/healthz", timeout=30)
            try:
                barrier.wait(timeout=30)
                response = session.post(
                    f"{live_server.url}/api/appointments/",
                    json={"doctor": doctor.id, "start": start.isoformat(), "reason": "Race"},
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
                with lock:
                    errors.append(error)

    threads = [threading.Thread(target=book, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert Counter(status for status, _ in answers) == {201: 1, 409: CLIENTS - 1}
    assert all(body == {"detail": SLOT_TAKEN} for status, body in answers if status == 409)
    booked = next(body for status, body in answers if status == 201)
    appointment = Appointment.objects.get(doctor=doctor)
    assert appointment.id == booked["id"]
    assert appointment.start == start
