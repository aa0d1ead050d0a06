"""A patient's record as a FHIR R4 (4.0.1) `collection` Bundle, in plain JSON built here (no
FHIR library at run time; the tests validate what this makes against R4's models).

What goes in: the Patient; their AllergyIntolerance, MedicationStatement and Condition rows;
every Appointment; an Encounter for each visit that took place; a Practitioner for each
doctor named; and for each visit whose note its doctor signed, that note as a Composition of
the Encounter (R4's Encounter has no note of its own): its four SOAP sections, attested
("legal") by the signer at the time of signing, with the SHA-256 of the signed text, and its
addenda as further sections, each by its author. Unsigned drafts are not part of the legal
record and are left out.

Every entry's fullUrl is a `urn:uuid:`, derived from the row it maps (the same row gives the
same id in every export), and every reference points at one of them, so references resolve
inside the Bundle."""

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.utils import timezone
from django.utils.html import escape

from visits.models import (
    Allergy,
    Appointment,
    AppointmentStatus,
    Condition,
    Doctor,
    Medication,
    Patient,
    VisitNote,
)
from visits.models.patients import AllergySeverity, ConditionStatus
from visits.selectors import PatientRecord

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

# Names of this clinic's own identifiers and extension (URNs: no web address is implied).
MRN_SYSTEM = "urn:clinic-meet:mrn"
LICENCE_SYSTEM = "urn:clinic-meet:licence"
SIGNED_TEXT_SHA256 = "urn:clinic-meet:fhir:StructureDefinition:signed-text-sha256"
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:clinic-meet:fhir")

APPOINTMENT_STATUS = {
    AppointmentStatus.REQUESTED: "pending",
    AppointmentStatus.CONFIRMED: "booked",
    AppointmentStatus.CHECKED_IN: "checked-in",
    AppointmentStatus.IN_PROGRESS: "arrived",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}
# Visits that took place (or are taking place) are encounters; the rest only appointments.
ENCOUNTER_STATUS = {
    AppointmentStatus.IN_PROGRESS: "in-progress",
    AppointmentStatus.COMPLETED: "finished",
}
ALLERGY_SEVERITY = {
    AllergySeverity.MILD: "mild",
    AllergySeverity.MODERATE: "moderate",
    AllergySeverity.SEVERE: "severe",
    AllergySeverity.LIFE_THREATENING: "severe",  # FHIR's scale ends at severe ...
}
HIGH_CRITICALITY = {
    AllergySeverity.SEVERE,
    AllergySeverity.LIFE_THREATENING,
}  # ... criticality says more
SECTION_TITLES = {
    "subjective": "Subjective",
    "objective": "Objective",
    "assessment": "Assessment",
    "plan": "Plan",
}


def full_url(kind: str, pk: int) -> str:
    return f"urn:uuid:{resource_id(kind, pk)}"


def resource_id(kind: str, pk: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}/{pk}"))


def _reference(kind: str, pk: int, display: str = "") -> dict:
    reference = {"reference": full_url(kind, pk)}
    if display:
        reference["display"] = display
    return reference


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _date(day: date) -> str:
    return day.isoformat()


def _codeable(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def _narrative(text: str) -> dict:
    """The XHTML a FHIR Narrative holds: the text, escaped, its lines kept."""
    lines = "<br/>".join(escape(line) for line in text.splitlines())
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{lines}</div>',
    }


def patient_resource(patient: Patient) -> dict:
    user = patient.user
    name = {"text": patient.full_name}
    if user.last_name:
        name["family"] = user.last_name
    if user.first_name:
        name["given"] = [user.first_name]
    resource = {
        "resourceType": "Patient",
        "id": resource_id("Patient", patient.pk),
        "identifier": [
            {
                "use": "usual",
                "type": _codeable("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
                "system": MRN_SYSTEM,
                "value": patient.medical_record_number,
            }
        ],
        "name": [name],
        "gender": patient.sex,  # our four values are FHIR's AdministrativeGender
        "birthDate": _date(patient.date_of_birth),
    }
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", patient.phone), ("email", patient.email))
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    if patient.emergency_contact_name:
        contact = {
            "relationship": [
                _codeable("http://terminology.hl7.org/CodeSystem/v2-0131", "C")
                | {"text": patient.emergency_contact_relationship or "Emergency contact"}
            ],
            "name": {"text": patient.emergency_contact_name},
        }
        if patient.emergency_contact_phone:
            contact["telecom"] = [{"system": "phone", "value": patient.emergency_contact_phone}]
        resource["contact"] = [contact]
    return resource


def practitioner_resource(doctor: Doctor) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", doctor.pk),
        "identifier": [{"system": LICENCE_SYSTEM, "value": doctor.license_number}],
        "name": [{"text": doctor.display_name}],
        "qualification": [{"code": {"text": doctor.specialty}}],
    }


def allergy_resource(allergy: Allergy, patient: Patient) -> dict:
    resource = {
        "resourceType": "AllergyIntolerance",
        "id": resource_id("AllergyIntolerance", allergy.pk),
        "clinicalStatus": _codeable(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"
        ),
        "criticality": "high" if allergy.severity in HIGH_CRITICALITY else "low",
        "code": {"text": allergy.substance},
        "patient": _reference("Patient", patient.pk, patient.full_name),
        "recordedDate": _instant(allergy.recorded_at),
    }
    if allergy.reaction:
        resource["reaction"] = [
            {
                "manifestation": [{"text": allergy.reaction}],
                "severity": ALLERGY_SEVERITY[allergy.severity],
            }
        ]
    return resource


def medication_resource(medication: Medication, patient: Patient) -> dict:
    resource = {
        "resourceType": "MedicationStatement",
        "id": resource_id("MedicationStatement", medication.pk),
        "status": "active" if medication.is_active else "stopped",
        "medicationCodeableConcept": {"text": medication.name},
        "subject": _reference("Patient", patient.pk, patient.full_name),
    }
    if medication.started_on:
        resource["effectivePeriod"] = {"start": _date(medication.started_on)}
    dosage = " ".join(part for part in (medication.dose, medication.frequency) if part)
    if dosage:
        resource["dosage"] = [{"text": dosage}]
    if medication.notes:
        resource["note"] = [{"text": medication.notes}]
    return resource


def condition_resource(condition: Condition, patient: Patient) -> dict:
    clinical_status = "active" if condition.status == ConditionStatus.ACTIVE else "resolved"
    code = {"text": condition.name}
    if condition.icd10_code:
        code["coding"] = [
            {"system": "http://hl7.org/fhir/sid/icd-10", "code": condition.icd10_code}
        ]
    resource = {
        "resourceType": "Condition",
        "id": resource_id("Condition", condition.pk),
        "clinicalStatus": _codeable(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical_status
        ),
        "code": code,
        "subject": _reference("Patient", patient.pk, patient.full_name),
    }
    if condition.onset_date:
        resource["onsetDateTime"] = _date(condition.onset_date)
    if condition.notes:
        resource["note"] = [{"text": condition.notes}]
    return resource


def appointment_resource(appointment: Appointment, patient: Patient) -> dict:
    doctor = appointment.doctor
    resource = {
        "resourceType": "Appointment",
        "id": resource_id("Appointment", appointment.pk),
        "status": APPOINTMENT_STATUS[appointment.status],
        "description": appointment.reason,
        "start": _instant(appointment.start),
        "end": _instant(appointment.end),
        "participant": [
            {
                "actor": _reference("Patient", patient.pk, patient.full_name),
                "status": "accepted",
            },
            {
                "actor": _reference("Practitioner", doctor.pk, doctor.display_name),
                "status": "accepted",
            },
        ],
    }
    if appointment.cancellation_reason:
        resource["cancelationReason"] = {"text": appointment.cancellation_reason}
    return resource


def encounter_resource(appointment: Appointment, patient: Patient) -> dict:
    doctor = appointment.doctor
    return {
        "resourceType": "Encounter",
        "id": resource_id("Encounter", appointment.pk),
        # A note signed before the visit's status moved on still has its encounter.
        "status": ENCOUNTER_STATUS.get(appointment.status, "unknown"),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR",
            "display": "virtual",
        },
        "subject": _reference("Patient", patient.pk, patient.full_name),
        "participant": [{"individual": _reference("Practitioner", doctor.pk, doctor.display_name)}],
        "appointment": [_reference("Appointment", appointment.pk)],
        "period": {"start": _instant(appointment.start), "end": _instant(appointment.end)},
        "reasonCode": [{"text": appointment.reason}],
    }


def _doctor_of(user) -> Doctor | None:
    return getattr(user, "doctor", None)


def note_composition_resource(note: VisitNote, appointment: Appointment, patient: Patient) -> dict:
    """The signed note of a visit: a progress note of its Encounter, attested by its signer."""
    signer = _doctor_of(note.signed_by) or appointment.doctor
    signer_reference = _reference("Practitioner", signer.pk, note.signer_name)
    sections = [
        {"title": SECTION_TITLES[name], "text": _narrative(getattr(note, name))}
        for name in VisitNote.SECTIONS
        if getattr(note, name).strip()
    ]
    for addendum in note.addenda.all():
        author = _doctor_of(addendum.author) or appointment.doctor
        sections.append(
            {
                "title": f"Addendum, {_instant(addendum.created_at)}",
                "author": [_reference("Practitioner", author.pk, author.display_name)],
                "text": _narrative(addendum.text),
                "extension": [{"url": SIGNED_TEXT_SHA256, "valueString": addendum.text_hash}],
            }
        )
    return {
        "resourceType": "Composition",
        "id": resource_id("Composition", note.pk),
        "extension": [{"url": SIGNED_TEXT_SHA256, "valueString": note.signed_hash}],
        "status": "amended" if len(sections) > _filled_sections(note) else "final",
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
            ],
            "text": "Visit note (SOAP)",
        },
        "subject": _reference("Patient", patient.pk, patient.full_name),
        "encounter": _reference("Encounter", appointment.pk),
        "date": _instant(note.signed_at),
        "author": [signer_reference],
        "title": f"Visit note, {appointment.start:%Y-%m-%d}",
        "attester": [
            {"mode": "legal", "time": _instant(note.signed_at), "party": signer_reference}
        ],
        "section": sections,
    }


def _filled_sections(note: VisitNote) -> int:
    return sum(1 for name in VisitNote.SECTIONS if getattr(note, name).strip())


def _entries(record: PatientRecord) -> Iterable[tuple[str, int, dict]]:
    patient = record.patient
    yield "Patient", patient.pk, patient_resource(patient)
    for doctor in record.doctors:
        yield "Practitioner", doctor.pk, practitioner_resource(doctor)
    for allergy in patient.allergies.all():
        yield "AllergyIntolerance", allergy.pk, allergy_resource(allergy, patient)
    for medication in patient.medications.all():
        yield "MedicationStatement", medication.pk, medication_resource(medication, patient)
    for condition in patient.conditions.all():
        yield "Condition", condition.pk, condition_resource(condition, patient)
    for appointment in record.appointments:
        yield "Appointment", appointment.pk, appointment_resource(appointment, patient)
        note = record.signed_notes.get(appointment.pk)
        if appointment.status in ENCOUNTER_STATUS or note is not None:
            yield "Encounter", appointment.pk, encounter_resource(appointment, patient)
        if note is not None:
            composition = note_composition_resource(note, appointment, patient)
            yield "Composition", note.pk, composition


def patient_record_bundle(record: PatientRecord, *, now: datetime | None = None) -> dict:
    """The record as a FHIR R4 `collection` Bundle (a dict, ready for JSON)."""
    now = now or timezone.now()
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),  # this export; the resources' ids are stable
        "meta": {"lastUpdated": _instant(now)},
        "type": "collection",
        "timestamp": _instant(now),
        "entry": [
            {"fullUrl": full_url(kind, pk), "resource": resource}
            for kind, pk, resource in _entries(record)
        ],
    }


def bundle_json(bundle: dict) -> str:
    return json.dumps(bundle, ensure_ascii=False, indent=2)
