"""`manage.py seed_demo`: a small clinic to try Clinic Meet with. Safe to run again and again."""

from datetime import date, time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from visits.models import Allergy, Appointment, AppointmentStatus, Condition, Medication, Role, User
from visits.models.patients import AllergySeverity
from visits.services import (
    appointment_create,
    doctor_create,
    doctor_set_working_hours,
    patient_create,
    user_create,
)
from visits.services.mfa import mfa_devices_remove

ADMIN = {
    "username": "admin",
    "password": "clinic-admin-demo",
    "first_name": "Clinic",
    "last_name": "Admin",
    "email": "admin@clinic.example",
}
DOCTORS = [
    {
        "user": {
            "username": "dr.tanaka",
            "password": "doctor-demo-pass",
            "first_name": "Aiko",
            "last_name": "Tanaka",
            "email": "tanaka@clinic.example",
        },
        "profile": {
            "display_name": "Dr. Aiko Tanaka",
            "specialty": "Internal medicine",
            "license_number": "DEMO-IM-0001",
            "time_zone": "Asia/Tokyo",
        },
        "hours": {day: [(time(9), time(12)), (time(13), time(17))] for day in range(5)},
    },
    {
        "user": {
            "username": "dr.okafor",
            "password": "doctor-demo-pass",
            "first_name": "Chidi",
            "last_name": "Okafor",
            "email": "okafor@clinic.example",
        },
        "profile": {
            "display_name": "Dr. Chidi Okafor",
            "specialty": "Dermatology",
            "license_number": "DEMO-DE-0002",
            "time_zone": "Europe/London",
            "appointment_length_minutes": 30,
        },
        "hours": {
            0: [(time(8), time(12))],
            2: [(time(8), time(12)), (time(14), time(18))],
            4: [(time(10), time(16))],
        },
    },
]
PATIENTS = [
    {
        "user": {
            "username": "hanako",
            "password": "patient-demo-pass",
            "first_name": "Hanako",
            "last_name": "Suzuki",
            "email": "hanako@example.com",
        },
        "profile": {
            "date_of_birth": date(1986, 4, 12),
            "sex": "female",
            "phone": "+81 90 1234 5678",
            "emergency_contact_name": "Taro Suzuki",
            "emergency_contact_relationship": "Spouse",
            "emergency_contact_phone": "+81 90 8765 4321",
        },
        "allergies": [
            ("Penicillin", "Hives and facial swelling", AllergySeverity.SEVERE),
            ("Peanuts", "Anaphylaxis", AllergySeverity.LIFE_THREATENING),
        ],
        "medications": [
            ("Levothyroxine", "50 mcg", "once daily"),
            ("Cetirizine", "10 mg", "as needed"),
        ],
        "conditions": [("Hypothyroidism", "E03.9"), ("Seasonal allergic rhinitis", "J30.2")],
    },
    {
        "user": {
            "username": "james",
            "password": "patient-demo-pass",
            "first_name": "James",
            "last_name": "Miller",
            "email": "james@example.com",
        },
        "profile": {
            "date_of_birth": date(1972, 11, 3),
            "sex": "male",
            "phone": "+44 7700 900123",
            "emergency_contact_name": "Sarah Miller",
            "emergency_contact_relationship": "Daughter",
            "emergency_contact_phone": "+44 7700 900456",
        },
        "allergies": [("Sulfonamides", "Rash", AllergySeverity.MODERATE)],
        "medications": [
            ("Metformin", "500 mg", "twice daily"),
            ("Lisinopril", "10 mg", "once daily"),
        ],
        "conditions": [("Type 2 diabetes mellitus", "E11.9"), ("Essential hypertension", "I10")],
    },
]


def _upsert_user(spec: dict, role: str) -> User:
    user = User.objects.filter(username=spec["username"]).first()
    if user is None:
        return user_create(role=role, **spec)
    # Re-running restores the printed logins, so they always work: the password, and no second
    # factor yet (a doctor or staff member sets one up again at the next sign-in).
    user.set_password(spec["password"])
    user.save(update_fields=["password"])
    mfa_devices_remove(user=user)
    return user


class Command(BaseCommand):
    help = "Create (or refresh) the demo clinic: an admin, two doctors, two patients, visits."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off (the demo passwords are public: never on real data).",
        )

    @transaction.atomic
    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to create demo accounts with well-known passwords while DEBUG is off; "
                "pass --allow-production for a throwaway deployment."
            )
        admin_user = _upsert_user(ADMIN, Role.ADMIN)
        if not admin_user.is_superuser:
            admin_user.is_superuser = admin_user.is_staff = True
            admin_user.save(update_fields=["is_superuser", "is_staff"])

        doctors = []
        for spec in DOCTORS:
            user = _upsert_user(spec["user"], Role.DOCTOR)
            doctor = getattr(user, "doctor", None) or doctor_create(user=user, **spec["profile"])
            doctor_set_working_hours(doctor=doctor, weekly_hours=spec["hours"])
            doctors.append(doctor)

        patients = []
        for spec in PATIENTS:
            user = _upsert_user(spec["user"], Role.PATIENT)
            patient = getattr(user, "patient", None) or patient_create(user=user, **spec["profile"])
            for substance, reaction, severity in spec["allergies"]:
                Allergy.objects.update_or_create(
                    patient=patient,
                    substance=substance,
                    defaults={"reaction": reaction, "severity": severity},
                )
            for name, dose, frequency in spec["medications"]:
                Medication.objects.update_or_create(
                    patient=patient, name=name, defaults={"dose": dose, "frequency": frequency}
                )
            for name, code in spec["conditions"]:
                Condition.objects.update_or_create(
                    patient=patient, name=name, defaults={"icd10_code": code}
                )
            patients.append(patient)

        self._schedule_visits(doctors, patients)
        self._print_logins()

    def _schedule_visits(self, doctors, patients) -> None:
        """Lay the demo visits out again around now, so one is always about to start."""
        Appointment.objects.filter(patient__in=patients).delete()
        now = timezone.now().replace(second=0, microsecond=0)
        soon = now + timedelta(minutes=5)
        tanaka, okafor = doctors
        hanako, james = patients
        plan = [
            (
                tanaka,
                hanako,
                soon,
                "Follow-up: thyroid levels and fatigue",
                AppointmentStatus.CONFIRMED,
            ),
            (
                tanaka,
                james,
                soon + timedelta(minutes=40),
                "Blood pressure review",
                AppointmentStatus.CONFIRMED,
            ),
            (
                okafor,
                james,
                now + timedelta(days=1, hours=2),
                "Itchy rash on forearm",
                AppointmentStatus.REQUESTED,
            ),
            (okafor, hanako, now + timedelta(days=3), "Mole check", AppointmentStatus.CONFIRMED),
            (
                tanaka,
                hanako,
                now - timedelta(days=30),
                "Annual check-up",
                AppointmentStatus.COMPLETED,
            ),
        ]
        for doctor, patient, start, reason, status in plan:
            appointment_create(
                doctor=doctor, patient=patient, start=start, reason=reason, status=status
            )

    def _print_logins(self) -> None:
        self.stdout.write(self.style.SUCCESS("Demo clinic ready. Sign in at /accounts/login/ as:"))
        rows = [("admin (clinic staff)", ADMIN)]
        rows += [(f"doctor, {spec['profile']['display_name']}", spec["user"]) for spec in DOCTORS]
        rows += [
            (f"patient, {spec['user']['first_name']} {spec['user']['last_name']}", spec["user"])
            for spec in PATIENTS
        ]
        for label, spec in rows:
            self.stdout.write(f"  {spec['username']:<12} {spec['password']:<20} {label}")
        self.stdout.write("Hanako Suzuki's visit with Dr. Tanaka starts in about 5 minutes.")
        if settings.MFA_REQUIRED_ROLES:
            roles = ", ".join(settings.MFA_REQUIRED_ROLES)
            self.stdout.write(
                f"Two-step sign-in is required for: {roles} (MFA_REQUIRED_ROLES). At the first "
                "sign-in they set up an authenticator app (TOTP) and keep recovery codes."
            )
