"""Data for a live server (tests/live_server.py), made through the service layer in a process of
its own with the server's environment, so it lands in the server's database and its tokens are
signed with the server's key. The live tests and the benchmarks seed through it.

From the parent process:

    data = seed(env, visits=3, prefix="live", stranger=True, doctor_password="...")

runs `python -m tests.live_seed '<spec as JSON>'`, which prints one line `LIVE_SEED <json>`:

    {"visits": [{"id", "room_id", "doctor": PERSON, "patient": PERSON}, ...],
     "stranger": PERSON (when asked), "probes": {"module:function": its result, ...}}

    PERSON = {"user_id", "username", "display_name", "token"}   (a JWT access token)

Each visit is confirmed and starts in five minutes (its room is open now), with a doctor and a
patient of its own; usernames are `<prefix>-doctor<n>` and `<prefix>-patient<n>`, so seed a
database once per prefix. Nobody has a usable password except the first doctor when
`doctor_password` is given (hashing is slow by design). `probes` are functions evaluated in the
server's environment (e.g. what its settings make of the channel layer). The builders
(`doctor`, `patients`, `open_visits`, `person`, `visit_data`) serve other seeding code too
(bench/seed.py). Not a test module.
"""

import importlib
import json
import sys
from datetime import date, time, timedelta

MARKER = "LIVE_SEED "
VISIT_STARTS_IN = timedelta(minutes=5)  # inside the join window, so rooms are open now


# --- The parent's side ---------------------------------------------------------------------------


def seed(env: dict[str, str], **spec) -> dict:
    """Seed the (migrated) database of `env`; what was made, as described above."""
    from tests.live_server import run_python

    output = run_python(env, "-m", "tests.live_seed", json.dumps(spec))
    line = next(line for line in output.splitlines() if line.startswith(MARKER))
    return json.loads(line.removeprefix(MARKER))


# --- Builders (in the seeding process, Django set up) --------------------------------------------


def doctor(
    username: str,
    *,
    display_name: str,
    license_number: str,
    weekly_hours: dict | None = None,
    appointment_length_minutes: int | None = None,
):
    """A doctor in UTC with no usable password; `weekly_hours` as doctor_set_working_hours
    takes them."""
    from visits.models import Role
    from visits.services import doctor_create, doctor_set_working_hours, user_create

    first, _, last = display_name.removeprefix("Dr. ").partition(" ")
    user = user_create(
        username=username, password=None, role=Role.DOCTOR, first_name=first, last_name=last
    )
    extra = {}
    if appointment_length_minutes is not None:
        extra["appointment_length_minutes"] = appointment_length_minutes
    made = doctor_create(
        user=user,
        display_name=display_name,
        specialty="Family medicine",
        license_number=license_number,
        time_zone="UTC",
        **extra,
    )
    if weekly_hours is not None:
        doctor_set_working_hours(doctor=made, weekly_hours=weekly_hours)
    return made


def all_day_every_day() -> dict:
    """Working hours 00:00-23:59 on every weekday."""
    return {day: [(time(0), time(23, 59))] for day in range(7)}


def patients(prefix: str, count: int, *, password: str | None = None) -> list:
    """`count` patients `<prefix>-patient<n>`; with `password`, all of them share it (one hash,
    copied to the others)."""
    from visits.models import Role, User
    from visits.services import patient_create, user_create

    users = [
        user_create(
            username=f"{prefix}-patient{number}",
            password=password if number == 0 else None,
            role=Role.PATIENT,
            first_name=prefix.title(),
            last_name=f"Patient{number}",
        )
        for number in range(count)
    ]
    if password is not None:
        User.objects.filter(pk__in=[user.pk for user in users[1:]]).update(
            password=users[0].password
        )
    return [patient_create(user=user, date_of_birth=date(1980, 1, 1)) for user in users]


def person(user, display_name: str) -> dict:
    from rest_framework_simplejwt.tokens import AccessToken

    return {
        "user_id": user.id,
        "username": user.username,
        "display_name": display_name,
        "token": str(AccessToken.for_user(user)),
    }


def open_visits(count: int, *, prefix: str) -> list:
    """`count` confirmed visits starting in five minutes, a doctor and a patient each."""
    from django.db import transaction
    from django.utils import timezone

    from visits.models import AppointmentStatus
    from visits.services import appointment_create

    start = timezone.now().replace(second=0, microsecond=0) + VISIT_STARTS_IN
    with transaction.atomic():  # one commit, not one per row
        return [
            appointment_create(
                doctor=doctor(
                    f"{prefix}-doctor{number}",
                    display_name=f"Dr. {prefix.title()} {number}",
                    license_number=f"{prefix.upper()}-{number:05d}",
                ),
                patient=patient,
                start=start,
                reason="Live visit",
                status=AppointmentStatus.CONFIRMED,
            )
            for number, patient in enumerate(patients(prefix, count))
        ]


def visit_data(visit) -> dict:
    return {
        "id": visit.pk,
        "room_id": str(visit.room_id),
        "doctor": person(visit.doctor.user, visit.doctor.display_name),
        "patient": person(visit.patient.user, visit.patient.full_name),
    }


def _probe(dotted: str):
    module, _, function = dotted.partition(":")
    return getattr(importlib.import_module(module), function)()


def make(
    *,
    visits: int = 0,
    prefix: str = "live",
    stranger: bool = False,
    doctor_password: str | None = None,
    probes: tuple[str, ...] = (),
) -> dict:
    made = open_visits(visits, prefix=prefix) if visits else []
    if doctor_password is not None:
        # Before any token is minted: a new password revokes a person's tokens.
        first_doctor = made[0].doctor.user
        first_doctor.set_password(doctor_password)
        first_doctor.save(update_fields=["password"])
    data = {"visits": [visit_data(visit) for visit in made]}
    if stranger:
        (outsider,) = patients(f"{prefix}-stranger", 1)
        data["stranger"] = person(outsider.user, outsider.full_name)
    data["probes"] = {dotted: _probe(dotted) for dotted in probes}
    return data


if __name__ == "__main__":
    import django

    django.setup()
    print(MARKER + json.dumps(make(**json.loads(sys.argv[1]))), flush=True)
