"""Data for bench/booking.py, made through the service layer; run by it in a subprocess.

    python -m bench.seed '<spec as JSON>'   (with DJANGO_SETTINGS_MODULE=bench.settings)

Prints one JSON object on stdout: the ids, dates and booking slots the benchmark uses, and the
SQL each endpoint (API and baseline) runs for one request, captured in-process.
"""

import json
import sys
from datetime import date, time, timedelta


def _setup_django() -> None:
    import django

    django.setup()


def _doctor(number: int, group: str):
    from visits.models import Role
    from visits.services import doctor_create, doctor_set_working_hours, user_create

    user = user_create(
        username=f"bench-{group}-doctor{number}",
        password=None,
        role=Role.DOCTOR,
        first_name="Bench",
        last_name=f"{group.title()}{number}",
    )
    doctor = doctor_create(
        user=user,
        display_name=f"Dr. Bench {group.title()} {number}",
        specialty="Family medicine",
        license_number=f"BENCH-{group.upper()}-{number:04d}",
        time_zone="UTC",
        appointment_length_minutes=5,
    )
    # Every day, all day: 287 five-minute slots a day, so bookings never run short.
    doctor_set_working_hours(
        doctor=doctor, weekly_hours={day: [(time(0), time(23, 59))] for day in range(7)}
    )
    return doctor


def _patients(count: int, password: str) -> list:
    from visits.models import Role, User
    from visits.services import patient_create, user_create

    users = [
        user_create(
            username=f"bench-patient{number}",
            password=password if number == 0 else None,
            role=Role.PATIENT,
            first_name="Bench",
            last_name=f"Patient{number}",
        )
        for number in range(count)
    ]
    # Hashing a password takes ~0.5 s by design; all patients share the first one's hash.
    User.objects.filter(pk__in=[user.pk for user in users[1:]]).update(password=users[0].password)
    return [patient_create(user=user, date_of_birth=date(1980, 1, 1)) for user in users]


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
    patients = _patients(spec["patients"], spec["password"])
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
                    doctor=doctor, patient=patients[-1], start=slot.start, reason="Seeded visit"
                )
                held += 1

    first_booking_day = today + timedelta(days=spec["booking_first_day_offset"])
    return {
        "patients": [{"id": p.id, "username": p.user.username} for p in patients],
        "list_doctors": [d.id for d in list_doctors],
        "list_dates": [day.isoformat() for day in list_dates],
        "held_appointments": held,
        "api_slots": _booking_slots(api_doctors, first_booking_day, spec["bookings_per_side"]),
        "baseline_slots": _booking_slots(
            base_doctors, first_booking_day, spec["bookings_per_side"]
        ),
        "probe": _probe(patients[0], list_doctors[0], list_dates[0], probe_doctor),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
