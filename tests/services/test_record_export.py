"""A patient's record as a FHIR R4 Bundle: every resource valid against FHIR R4 (4.0.1) as the
`fhir.resources` 6.4 models define it, every reference resolving inside the Bundle, signed
notes only, nobody else's data, and every export in the access log."""

from datetime import date

import pytest
from fhir.resources import __fhir_version__, construct_fhir_element
from fhir.resources.bundle import Bundle

from tests.factories import at, make_appointment, make_doctor, make_patient
from visits.models import AccessLogEntry, Allergy, Condition, Medication
from visits.services import (
    appointment_transition,
    patient_record_export,
    visit_note_addendum_add,
    visit_note_save,
    visit_note_sign,
)

pytestmark = pytest.mark.django_db

RESOURCE_TYPES = {
    "Patient",
    "Practitioner",
    "AllergyIntolerance",
    "MedicationStatement",
    "Condition",
    "Appointment",
    "Encounter",
    "Composition",
}


def _charted(patient, label: str):
    Allergy.objects.create(
        patient=patient, substance=f"Penicillin {label}", reaction="Hives", severity="severe"
    )
    Allergy.objects.create(patient=patient, substance=f"Latex {label}", severity="mild")
    Medication.objects.create(
        patient=patient,
        name=f"Metformin {label}",
        dose="500 mg",
        frequency="twice daily",
        started_on=date(2024, 3, 1),
    )
    Medication.objects.create(patient=patient, name=f"Ibuprofen {label}", is_active=False)
    Condition.objects.create(
        patient=patient, name=f"Type 2 diabetes {label}", icd10_code="E11.9", onset_date=None
    )
    Condition.objects.create(
        patient=patient, name=f"Sprain {label}", status="resolved", onset_date=date(2023, 1, 9)
    )
    return patient


def _visit_with_note(patient, doctor, *, days: int, sign: bool, text: str):
    visit = make_appointment(
        doctor=doctor,
        patient=patient,
        start=at(days=days),
        status="in_progress",
        reason=f"A visit of {patient.user.first_name}",
    )
    visit_note_save(
        user=doctor.user,
        appointment_id=visit.pk,
        sections={"subjective": text, "plan": f"Plan for {text}"},
        base_version=0,
    )
    if sign:
        visit_note_sign(user=doctor.user, appointment_id=visit.pk, base_version=1)
    appointment_transition(user=doctor.user, appointment_id=visit.pk, action="complete")
    return visit


@pytest.fixture
def world():
    doctor, other_doctor = make_doctor(), make_doctor()
    patient = _charted(
        make_patient(
            first_name="Ana",
            last_name="Lima",
            sex="female",
            date_of_birth=date(1985, 6, 1),
            phone="+1 555 0100",
            email="ana@example.org",
            emergency_contact_name="João Lima",
            emergency_contact_relationship="Brother",
            emergency_contact_phone="+1 555 0199",
        ),
        "A",
    )
    signed = _visit_with_note(patient, doctor, days=-3, sign=True, text="Signed cough")
    visit_note_addendum_add(user=doctor.user, appointment_id=signed.pk, text="Later: better.")
    unsigned = _visit_with_note(patient, doctor, days=-2, sign=False, text="Draft fever")
    upcoming = make_appointment(doctor=other_doctor, patient=patient, start=at(days=3))
    # Someone else's record, with a signed note of the same doctor: never in Ana's export.
    other = _charted(make_patient(first_name="Bea", last_name="Other"), "B")
    _visit_with_note(other, doctor, days=-1, sign=True, text="Bea's signed note")
    return patient, doctor, signed, unsigned, upcoming, other


def _export(patient, user=None, channel="api"):
    return patient_record_export(user=user or patient.user, patient_id=patient.pk, channel=channel)


def _by_type(bundle) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def _references(value):
    """Every `reference` anywhere inside a resource."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference":
                yield inner
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def test_the_validating_models_are_fhir_r4():
    assert __fhir_version__ == "4.0.1"


def test_the_bundle_and_every_resource_in_it_are_valid_fhir_r4(world):
    patient, *_ = world
    bundle = _export(patient)
    parsed = Bundle.parse_obj(bundle)
    assert (parsed.type, len(parsed.entry)) == ("collection", len(bundle["entry"]))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        # Each on its own, against its own type's model (the Bundle's check is by type too).
        model = construct_fhir_element(resource["resourceType"], resource)
        assert model.id == resource["id"]
    assert set(_by_type(bundle)) == RESOURCE_TYPES


def test_each_resource_type_carries_the_record(world):
    patient, doctor, _, _, upcoming, _ = world
    resources = _by_type(_export(patient))
    (ana,) = resources["Patient"]
    assert ana["identifier"][0]["value"] == patient.medical_record_number
    assert (ana["name"][0]["family"], ana["gender"], ana["birthDate"]) == (
        "Lima",
        "female",
        "1985-06-01",
    )
    assert ana["contact"][0]["name"]["text"] == "João Lima"
    allergies = {a["code"]["text"]: a for a in resources["AllergyIntolerance"]}
    assert set(allergies) == {"Penicillin A", "Latex A"}
    assert allergies["Penicillin A"]["criticality"] == "high"
    assert allergies["Penicillin A"]["reaction"][0]["manifestation"][0]["text"] == "Hives"
    medications = {
        m["medicationCodeableConcept"]["text"]: m for m in resources["MedicationStatement"]
    }
    assert (medications["Metformin A"]["status"], medications["Ibuprofen A"]["status"]) == (
        "active",
        "stopped",
    )
    assert medications["Metformin A"]["dosage"][0]["text"] == "500 mg twice daily"
    conditions = {c["code"]["text"]: c for c in resources["Condition"]}
    assert conditions["Type 2 diabetes A"]["code"]["coding"][0]["code"] == "E11.9"
    assert conditions["Sprain A"]["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert sorted(a["status"] for a in resources["Appointment"]) == [
        "fulfilled",
        "fulfilled",
        "pending",
    ]
    # Encounters for the two visits that took place, none for the one still to come.
    assert len(resources["Encounter"]) == 2
    assert {e["status"] for e in resources["Encounter"]} == {"finished"}
    assert {p["name"][0]["text"] for p in resources["Practitioner"]} == {
        doctor.display_name,
        upcoming.doctor.display_name,
    }


def test_only_signed_notes_are_in_it_attested_with_their_hash_and_addenda(world):
    patient, doctor, signed, *_ = world
    bundle = _export(patient)
    (composition,) = _by_type(bundle)["Composition"]
    signed.note.refresh_from_db()
    texts = " ".join(section["text"]["div"] for section in composition["section"])
    assert "Signed cough" in texts and "Later: better." in texts
    assert "Draft fever" not in str(bundle)  # the unsigned draft is not part of the record
    assert composition["extension"][0]["valueString"] == signed.note.signed_hash
    attester = composition["attester"][0]
    assert (attester["mode"], attester["party"]["display"]) == ("legal", doctor.display_name)
    assert composition["status"] == "amended"  # an addendum followed the signature
    encounters = {e["id"]: e for e in _by_type(bundle)["Encounter"]}
    encounter = encounters[composition["encounter"]["reference"].removeprefix("urn:uuid:")]
    assert encounter["period"]["start"].startswith(f"{signed.start:%Y-%m-%d}")


def test_every_reference_resolves_inside_the_bundle(world):
    patient, *_ = world
    bundle = _export(patient)
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    assert all(
        url == f"urn:uuid:{e['resource']['id']}"
        for url, e in zip(full_urls, bundle["entry"], strict=True)
    )
    references = [ref for entry in bundle["entry"] for ref in _references(entry["resource"])]
    assert len(references) > 10
    assert set(references) <= set(full_urls)


def test_another_patients_data_is_never_in_it(world):
    patient, _, _, _, _, other = world
    bundle = _export(patient)
    text = str(bundle)
    for marker in ("Bea", "Other", " B'", "Bea's signed note", other.medical_record_number):
        assert marker not in text
    (only,) = _by_type(bundle)["Patient"]
    assert only["identifier"][0]["value"] == patient.medical_record_number
    assert len(_by_type(bundle)["Appointment"]) == patient.appointments.count() == 3


def test_every_export_is_in_the_access_log(world):
    patient, doctor, *_ = world
    # From here on (the log refuses deletions on PostgreSQL, and the set-up wrote some).
    before = AccessLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    _export(patient)
    _export(patient, user=doctor.user)
    entries = (
        AccessLogEntry.objects.filter(pk__gt=before)
        .order_by("pk")
        .values_list("viewer", "patient", "what", "action", "channel")
    )
    assert list(entries) == [
        (patient.user.pk, patient.pk, "health_record", "export", "api"),
        (doctor.user.pk, patient.pk, "health_record", "export", "api"),
    ]
