"""The booking API's fast path, pinned by counting (issue 15; bench/booking.py measures it):
slot listing and booking run as many SQL statements as the benchmark's plain-Django baseline
(bench/baseline.py) doing the same database work without authentication, and a request
crosses between the event loop and its thread a fixed, small number of times."""

import asyncio

import pytest
from asgiref import sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.asgi_handler import SyncChainASGIHandler
from tests.factories import bearer, make_appointment, make_doctor, make_patient, next_day, slot_at

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.urls")]


def _statements(call, status: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == status, response.content
    return len(queries)


def test_slot_listing_runs_the_baselines_statements(client):
    doctor, patient = make_doctor(), make_patient()
    day = next_day(days=2)
    for hour in (9, 11, 15):  # the held appointments' query returns rows
        make_appointment(doctor=doctor, patient=patient, start=slot_at(day, hour))
    params, token = {"date": day.isoformat()}, bearer(patient.user)
    api = _statements(
        lambda: client.get(f"/api/doctors/{doctor.id}/slots/", params, headers=token), 200
    )
    baseline = _statements(lambda: client.get(f"/bench/doctors/{doctor.id}/slots/", params), 200)
    # The API's JWT user lookup is paid for by loading the doctor with their hours in one query.
    assert api == baseline == 3


def test_booking_runs_the_baselines_statements(client):
    doctor, patient = make_doctor(), make_patient()
    day, token = next_day(days=2), bearer(patient.user)
    api = _statements(
        lambda: client.post(
            "/api/appointments/",
            {"doctor": doctor.id, "start": slot_at(day, 9).isoformat(), "reason": "Cough"},
            content_type="application/json",
            headers=token,
        ),
        201,
    )
    baseline = _statements(
        lambda: client.post(
            "/bench/appointments/",
            {
                "doctor": doctor.id,
                "patient": patient.id,
                "start": slot_at(day, 10).isoformat(),
                "reason": "Cough",
            },
            content_type="application/json",
        ),
        201,
    )
    # The user with its patient profile (1), the doctor with hours (1), the doctor's lock, the
    # overlap check, the INSERT; here inside the test's transaction, so the booking's own
    # transaction adds a SAVEPOINT and its RELEASE on both sides.
    assert api == baseline
    assert api - 2 == 5


def test_an_asgi_request_crosses_to_its_thread_once_for_the_middleware_and_view(monkeypatch):
    """Django's own handler ran each middleware's request and response half through a
    sync_to_async hop of its own (about twenty per request); ours runs the whole chain in one.
    The other two are Django's: the request_started signal and closing the response."""
    application = SyncChainASGIHandler()  # as clinic/asgi.py serves HTTP
    hops = []
    original = sync.SyncToAsync.__call__

    def counting(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counting)
    sent = []

    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/me/",
        "raw_path": b"/api/me/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    asyncio.run(asyncio.wait_for(application(scope, receive, send), timeout=30))
    assert sent[0]["status"] == 401  # no token: DRF's authentication and permission ran
    assert len(hops) <= 3, hops
