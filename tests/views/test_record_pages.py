"""The patient's right of access in the portal: "Download my record" on their home, a FHIR R4
file to download and a page to read and print that says the same, each in the access log."""

import json
import re
from datetime import date

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.factories import at, make_admin, make_appointment, make_doctor, make_patient
from visits.models import AccessLogEntry, Allergy, Condition, Medication
from visits.services import (
    appointment_transition,
    visit_note_addendum_add,
    visit_note_save,
    visit_note_sign,
)

pytestmark = pytest.mark.django_db
# The one script of every signed-in page: the session timer (static/js/session/).
SESSION_SCRIPT = '<script type="module" src="/static/js/session/main.js">'


@pytest.fixture
def patient():
    patient = make_patient(first_name="Ana", last_name="Lima", date_of_birth=date(1985, 6, 1))
    Allergy.objects.create(patient=patient, substance="Penicillin", reaction="Hives")
    Medication.objects.create(patient=patient, name="Metformin", dose="500 mg")
    Condition.objects.create(patient=patient, name="Asthma", icd10_code="J45")
    doctor = make_doctor()
    for text, sign in (("Signed cough", True), ("Draft fever", False)):
        visit = make_appointment(doctor=doctor, patient=patient, start=at(days=-3 if sign else -2))
        visit_note_save(
            user=doctor.user,
            appointment_id=visit.pk,
            sections={"assessment": text},
            base_version=0,
        )
        if sign:
            visit_note_sign(user=doctor.user, appointment_id=visit.pk, base_version=1)
            visit_note_addendum_add(user=doctor.user, appointment_id=visit.pk, text="Better.")
        appointment_transition(user=doctor.user, appointment_id=visit.pk, action="start")
        appointment_transition(user=doctor.user, appointment_id=visit.pk, action="complete")
    # What the tests read of the log starts here (the log refuses deletions on PostgreSQL).
    patient.log_after = AccessLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    return patient


def _logged(patient):
    """The health-data entries since the fixture's set-up (sign-ins are security events)."""
    return AccessLogEntry.objects.health_data().filter(pk__gt=patient.log_after or 0)


def _texts_of(bundle) -> set[str]:
    """The human-readable facts of the bundle: names, texts and narrative, tags stripped."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in {"text", "description", "value", "birthDate"} and isinstance(inner, str):
                    found.add(inner)
                elif key == "div":
                    found.update(part for part in re.split(r"<[^>]+>", inner) if part.strip())
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(bundle)
    return found


def test_the_patients_home_offers_their_record(client, patient):
    client.force_login(patient.user)
    home = client.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("portal:record")}"' in home and "Download my record" in home


def test_the_download_is_their_fhir_bundle_as_a_file_and_is_logged(client, patient):
    client.force_login(patient.user)
    response = client.get(reverse("portal:record-download"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="health-record-{patient.medical_record_number}.fhir.json"'
    )
    bundle = json.loads(response.content)
    assert bundle["resourceType"] == "Bundle"
    entry = _logged(patient).get()
    assert (entry.viewer, entry.patient, entry.what, entry.action, entry.channel) == (
        patient.user,
        patient,
        "health_record",
        "export",
        "portal",
    )


def test_the_print_view_says_what_the_bundle_says(client, patient):
    client.force_login(patient.user)
    bundle = json.loads(client.get(reverse("portal:record-download")).content)
    page = client.get(reverse("portal:record"))
    assert page.status_code == 200
    html = page.content.decode()
    facts = _texts_of(bundle) - {"Visit note (SOAP)", "Emergency contact"}
    facts = {fact for fact in facts if not fact.startswith(("urn:", "http"))}
    assert {"Penicillin", "Hives", "Metformin", "Asthma", "Signed cough", "Better."} <= facts
    missing = sorted(fact for fact in facts if escape(fact) not in html)
    assert not missing, f"in the bundle, not on the page: {missing}"
    assert "Draft fever" not in html  # as in the bundle: unsigned drafts are not the record
    assert "Unsigned drafts are not part of the legal record" in html
    # A printable page: its own stylesheet (with the print rules), no inline script or style.
    assert "css/record-print.css" in html
    assert re.findall(r"<script[^>]*>", html) == [SESSION_SCRIPT]  # the site's, none inline
    assert "style=" not in html and "<style" not in html
    assert _logged(patient).filter(action="export", channel="portal").count() == 2


def test_only_a_patient_gets_their_record_here(client, patient):
    for user in (make_admin(), make_doctor().user):
        client.force_login(user)
        assert client.get(reverse("portal:record")).status_code == 404
        assert client.get(reverse("portal:record-download")).status_code == 404
    client.logout()
    assert client.get(reverse("portal:record")).status_code == 302
    assert not _logged(patient).exists()
