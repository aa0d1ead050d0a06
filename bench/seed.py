"""Data for bench/booking.py, made through the service layer (with tests/live_seed.py's
builders); run by it in a subprocess.

    python -m bench.seed '<spec as JSON>'   (with DJANGO_SETTINGS_MODULE=bench.settings)

Prints one JSON object on stdout: the ids, dates and booking slots the benchmark uses, the SQL
each endpoint (API and baseline) runs for one request, captured in-process, and how the server's
settings connect to the database.
"""

import json
import sys
from datetime import date, timedelta

from tests import live_seed


def _setup_django() -> None:
    import django

    django.setup()


def _doctor(number: int, group: str):
    # Every day, all day: 287 five-minute slots a day, so bookings never run short.
    return live_seed.doctor(
        f"bench-{group}-doctor{number}",
        display_name=f"Dr. Bench {group.title()} {number}",
        license_number=f"BENCH-{group.upper()}-{number:04d}",
        weekly_hours=live_seed.all_day_every_day(),
        appointment_length_minutes=5,
    )


def _database_settings() -> dict:
    """CONN_MAX_AGE and the pool (None without one) the server's settings give PostgreSQL."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    return {
        "conn_max_age": database["CONN_MAX_AGE"],
        "pool": database.get("OPTIONS", {}).get("pool"),
    }


def _booking_slots(doctors: list, first_day: date, count: int) -> list[list]:
    """`count` distinct (doctor id, start) pairs, spread over the doctors, day after day."""
    from visits.selectors import doctor_slot_grid

    pairs, day = [], first_day
    while len(pairs) < count:
        grids = [doctor_slot_grid(doctor=doctor, day=day) for doctor in doctors]
        for slots in zip(*grids, strict=True):
            pairs.extend(
                [d.id, slot.start.isoformat()] for d, slot in zip(doctors, slots, strict=True)
            )
        day += timedelta(days=1)
    return pairs[:count]


def _captured_sql(method: str, path: str, **kwargs) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, **kwargs)
    if not 200 <= response.status_code < 300:
        raise SystemExit(
            f"probe {method.upper()} {path}: {response.status_code} {response.content[:300]!r}"
        )
    statements = [query["sql"] for query in captured.captured_queries]
    return {"queries": len(statements), "sql": statements, "response_bytes": len(response.content)}


def _probe(patient, list_doctor, day: date, probe_doctor) -> dict:
    """The SQL of one request to each endpoint (the test client runs it in this process)."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from visits.selectors import doctor_slot_grid

    token = str(RefreshToken.for_user(patient.user).access_token)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    slot_api, slot_base = doctor_slot_grid(doctor=probe_doctor, day=day)[:2]
    booking = {"doctor": probe_doctor.id, "reason": "Benchmark probe"}
    return {
        "slots": {
            "api": _captured_sql(
                "get", f"/api/doctors/{list_doctor.id}/slots/", data={"date": day}, **auth
            ),
            "baseline": _captured_sql(
                "get", f"/bench/doctors/{list_doctor.id}/slots/", data={"date": day}
            ),
        },
        "booking": {
            "api": _captured_sql(
                "post",
                "/api/appointments/",
                data={**booking, "start": slot_api.start.isoformat()},
                content_type="application/json",
                **auth,
            ),
            "baseline": _captured_sql(
                "post",
                "/bench/appointments/",
                data={**booking, "patient": patient.id, "start": slot_base.start.isoformat()},
                content_type="application/json",
            ),
        },
    }


def main(spec: dict) -> dict:
    _setup_django()
    from django.utils import timezone

    from visits.selectors import doctor_slot_grid
    from visits.services import appointment_create

    today = timezone.now().date()
    people = live_seed.patients("bench", spec["patients"], password=spec["password"])
    list_doctors = [_doctor(n, "list") for n in range(spec["list_doctors"])]
    api_doctors = [_doctor(n, "api") for n in range(spec["booking_doctors"])]
    base_doctors = [_doctor(n, "base") for n in range(spec["booking_doctors"])]
    probe_doctor = _doctor(0, "probe")

    # The listed days are partly booked, so the held-appointments query returns rows.
    list_dates = [today + timedelta(days=1 + n) for n in range(spec["list_dates"])]
    held = 0
    for doctor in list_doctors:
        for day in list_dates:
            for slot in doctor_slot_grid(doctor=doctor, day=day)[:: spec["held_every"]]:
                appointment_create(
                    doctor=doctor, patient=people[-1], start=slot.start, reason="Seeded visit"
                )
                held += 1

    first_booking_day = today + timedelta(days=spec["booking_first_day_offset"])
    return {
        "patients": [{"id": p.id, "username": p.user.username} for p in people],
        "list_doctors": [d.id for d in list_doctors],
        "list_dates": [day.isoformat() for day in list_dates],
        "held_appointments": held,
        "api_slots": _booking_slots(api_doctors, first_booking_day, spec["bookings_per_side"]),
        "baseline_slots": _booking_slots(
            base_doctors, first_booking_day, spec["bookings_per_side"]
        ),
        "database": _database_settings(),
        "probe": _probe(people[0], list_doctors[0], list_dates[0], probe_doctor),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
