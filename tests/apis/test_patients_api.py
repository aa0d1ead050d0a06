"""A patient's chart summary: for the patient, their doctors and clinic staff; 404 for others."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    add_chart_entries,
    at,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
)
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db


def _chart(patient_id: int) -> str:
    return f"/api/patients/{patient_id}/"


@pytest.fixture
def patient():
    return add_chart_entries(
        make_patient(
            first_name="Ana",
            last_name="Lima",
            date_of_birth=date(1985, 6, 1),
            sex="female",
            phone="+1 555 0100",
        ),
        count=2,
    )


def test_the_patient_reads_their_own_chart(api, patient):
    response = api.as_user(patient.user).get(_chart(patient.id))
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("id", "full_name", "date_of_birth", "sex", "phone")} == {
        "id": patient.id,
        "full_name": "Ana Lima",
        "date_of_birth": "1985-06-01",
        "sex": "female",
        "phone": "+1 555 0100",
    }
    assert body["medical_record_number"] == patient.medical_record_number
    assert [a["substance"] for a in body["allergies"]] == ["Substance 0", "Substance 1"]
    assert body["allergies"][0] == {
        "substance": "Substance 0",
        "reaction": "Rash",
        "severity": "moderate",
    }
    assert {m["name"] for m in body["medications"]} == {"Medicine 0", "Medicine 1"}
    assert {c["name"] for c in body["conditions"]} == {"Condition 0", "Condition 1"}
    assert body["conditions"][0]["icd10_code"] == "J45"


def test_a_doctor_with_an_appointment_reads_the_chart(api, patient):
    doctor = make_doctor()
    make_appointment(doctor=doctor, patient=patient, start=at(days=3))
    make_appointment(doctor=doctor, patient=patient, start=at(days=4))  # two: still one chart
    response = api.as_user(doctor.user).get(_chart(patient.id))
    assert response.status_code == 200
    assert response.json()["id"] == patient.id


def test_a_doctor_who_saw_the_patient_in_the_past_still_reads_the_chart(api, patient):
    doctor = make_doctor()
    make_appointment(doctor=doctor, patient=patient, start=at(days=-30), status="completed")
    assert api.as_user(doctor.user).get(_chart(patient.id)).status_code == 200


def test_a_doctor_whose_only_booking_was_cancelled_gets_404(api, patient):
    doctor = make_doctor()
    make_appointment(doctor=doctor, patient=patient, start=at(days=3), status="cancelled")
    # Another doctor's live booking must not lend its status to this doctor's cancelled one.
    make_appointment(patient=patient, start=at(days=5))
    assert api.as_user(doctor.user).get(_chart(patient.id)).status_code == 404
    make_appointment(doctor=doctor, patient=patient, start=at(days=6))
    assert api.as_user(doctor.user).get(_chart(patient.id)).status_code == 200


def test_clinic_staff_read_any_chart(api, patient):
    assert api.as_user(make_admin()).get(_chart(patient.id)).status_code == 200


@pytest.mark.parametrize("stranger", ["other_patient", "other_doctor"])
def test_anyone_else_gets_404_not_403(api, patient, stranger):
    make_appointment(patient=patient, start=at(days=2))  # with some other doctor
    user = make_patient().user if stranger == "other_patient" else make_doctor().user
    response = api.as_user(user).get(_chart(patient.id))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such patient."}


def test_anonymous_is_401(api, patient):
    assert api.get(_chart(patient.id)).status_code == 401


def test_an_unknown_patient_is_404(api):
    admin = api.as_user(make_admin())
    assert admin.get(_chart(987654)).status_code == 404
    assert admin.get(_chart(2**70)).status_code == 404  # beyond any database integer
    response = admin.get("/api/patients/abc/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_the_chart_costs_the_same_queries_with_2_or_20_entries_of_each_kind(
    api, django_assert_max_num_queries
):
    small, large = add_chart_entries(make_patient(), count=2), make_patient()
    caller = api.as_user(make_admin())
    with CaptureQueriesContext(connection) as queries:
        assert caller.get(_chart(small.id)).status_code == 200
    add_chart_entries(large, count=20)
    with django_assert_max_num_queries(len(queries)):
        response = caller.get(_chart(large.id))
    assert len(response.json()["allergies"]) == 20


def _export(patient_id: int) -> str:
    return f"/api/patients/{patient_id}/export/"


def test_the_record_export_is_a_fhir_bundle_for_those_who_may_open_the_chart(api, patient):
    doctor = make_doctor()
    make_appointment(doctor=doctor, patient=patient, start=at(days=2))
    for user in (patient.user, doctor.user, make_admin()):
        response = api.as_user(user).get(_export(patient.id))
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/fhir+json"
        bundle = response.json()
        assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
        kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
        assert {"Patient", "AllergyIntolerance", "MedicationStatement", "Condition"} <= kinds
    refused = api.as_user(make_doctor().user).get(_export(patient.id))
    assert refused.status_code == 404 and refused.json() == {"detail": "No such patient."}
    assert api.as_user(make_patient().user).get(_export(patient.id)).status_code == 404
    assert api.as_user(None).get(_export(patient.id)).status_code == 401
    # One entry per export, none for the refusals; JSON errors whatever was asked for.
    assert AccessLogEntry.objects.filter(what="health_record", action="export").count() == 3
    odd = api.as_user(None).get(_export(patient.id), HTTP_ACCEPT="text/html")
    assert odd.status_code == 401 and odd["Content-Type"].startswith("application/json")
