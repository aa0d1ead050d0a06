"""The visit note through the API: every read logged, every save kept as a version, closed to
saves once the visit is completed or the note signed (addenda instead), and its history for its
doctor and clinic staff."""

import pytest

from tests.factories import at, make_admin, make_appointment, make_doctor
from visits.models import AccessLogEntry, VisitNote

pytestmark = pytest.mark.django_db


def _note(appointment_id: int) -> str:
    return f"/api/appointments/{appointment_id}/notes/"


def _versions(appointment_id: int) -> str:
    return f"/api/appointments/{appointment_id}/notes/versions/"


def _addenda(appointment_id: int) -> str:
    return f"/api/appointments/{appointment_id}/notes/addenda/"


def _save(api, visit, version: int, **sections):
    return api.call("PUT", _note(visit.pk), {"version": version, **sections})


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=-10), status="in_progress")


def test_reading_a_note_through_the_api_is_logged(api, visit):
    doctor, staff = visit.doctor.user, make_admin()
    assert api.as_user(doctor).get(_note(visit.pk)).status_code == 200
    assert api.as_user(staff).get(_note(visit.pk)).status_code == 200
    # Refused reads show nothing, so they log nothing.
    assert api.as_user(visit.patient.user).get(_note(visit.pk)).status_code == 403
    assert api.as_user(make_doctor().user).get(_note(visit.pk)).status_code == 404
    entries = (
        AccessLogEntry.objects.health_data()
        .order_by("pk")
        .values_list("viewer", "viewer_role", "patient", "appointment", "what", "action", "channel")
    )
    assert list(entries) == [
        (doctor.pk, "doctor", visit.patient_id, visit.pk, "note", "view", "api"),
        (staff.pk, "admin", visit.patient_id, visit.pk, "note", "view", "api"),
    ]


def test_saves_are_kept_as_versions_the_visits_doctor_can_list(api, visit):
    doctor = api.as_user(visit.doctor.user)
    for version, text in enumerate(["Cough", "Cough, dry", "Cough, dry, 2 weeks"]):
        assert _save(doctor, visit, version, subjective=text).status_code == 200
    response = doctor.get(_versions(visit.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert [(v["version"], v["subjective"]) for v in body["results"]] == [
        (3, "Cough, dry, 2 weeks"),
        (2, "Cough, dry"),
        (1, "Cough"),
    ]
    assert {v["saved_by"] for v in body["results"]} == {visit.doctor.user.display_name}
    assert all(v["saved_at"] for v in body["results"])
    history_reads = AccessLogEntry.objects.filter(what="note_history")
    assert list(history_reads.values_list("viewer", "action", "channel", "appointment")) == [
        (visit.doctor.user_id, "list", "api", visit.pk)
    ]


def test_a_notes_history_is_for_the_visits_doctor_and_clinic_staff(api, visit):
    _save(api.as_user(visit.doctor.user), visit, 0, plan="Rest")
    assert api.as_user(make_doctor().user).get(_versions(visit.pk)).status_code == 404
    assert api.as_user(visit.patient.user).get(_versions(visit.pk)).status_code == 403
    assert api.as_user(None).get(_versions(visit.pk)).status_code == 401
    assert not AccessLogEntry.objects.filter(what="note_history").exists()
    staff = make_admin()
    response = api.as_user(staff).get(_versions(visit.pk))
    assert response.status_code == 200
    assert [v["plan"] for v in response.json()["results"]] == ["Rest"]
    assert AccessLogEntry.objects.get(what="note_history").viewer == staff


def test_saving_after_the_visit_is_completed_is_409_and_leaves_the_note(api, visit):
    doctor = api.as_user(visit.doctor.user)
    assert _save(doctor, visit, 0, subjective="Before the end").status_code == 200
    assert doctor.post(f"/api/appointments/{visit.pk}/complete/").status_code == 200
    assert doctor.get(_note(visit.pk)).json()["closed"] is True

    response = _save(doctor, visit, 1, subjective="Rewritten afterwards")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The visit is completed; add an addendum instead.",
        "code": "note_closed",
    }
    note = VisitNote.objects.get(appointment=visit)
    assert (note.subjective, note.version, note.versions.count()) == ("Before the end", 1, 1)


def test_an_addendum_is_added_dated_and_listed_with_the_note(api, visit):
    doctor = api.as_user(visit.doctor.user)
    _save(doctor, visit, 0, assessment="Viral")
    # Not while the note can still be edited.
    early = doctor.post(_addenda(visit.pk), {"text": "Too soon"})
    assert early.status_code == 409
    doctor.post(f"/api/appointments/{visit.pk}/complete/")

    created = doctor.post(_addenda(visit.pk), {"text": "Swab came back negative."})
    assert created.status_code == 201, created.content
    addendum = created.json()
    assert (addendum["text"], addendum["author"]) == (
        "Swab came back negative.",
        visit.doctor.user.display_name,
    )
    assert addendum["created_at"]
    assert doctor.post(_addenda(visit.pk), {"text": ""}).status_code == 400
    assert api.as_user(visit.patient.user).post(_addenda(visit.pk), {"text": "x"}).status_code == (
        403
    )

    note = doctor.get(_note(visit.pk)).json()
    assert (note["assessment"], note["closed"]) == ("Viral", True)
    assert [(a["text"], a["created_at"]) for a in note["addenda"]] == [
        ("Swab came back negative.", addendum["created_at"])
    ]
    assert AccessLogEntry.objects.filter(what="note", action="addendum").count() == 1


def test_an_unsaved_note_reads_as_empty_and_open(api, visit):
    body = api.as_user(visit.doctor.user).get(_note(visit.pk)).json()
    assert (body["version"], body["closed"], body["addenda"], body["updated_at"]) == (
        0,
        False,
        [],
        None,
    )


def _sign(api, visit, version: int):
    return api.post(f"/api/appointments/{visit.pk}/notes/sign/", {"version": version})


def test_signing_makes_the_note_read_only_and_says_who_signed_it_when(api, visit):
    doctor = api.as_user(visit.doctor.user)
    assert _save(doctor, visit, 0, subjective="Sore throat").status_code == 200
    assert _sign(doctor, visit, 0).status_code == 400  # version 0 is nothing to sign
    response = _sign(doctor, visit, 1)
    assert response.status_code == 200, response.content
    signed = response.json()
    assert signed["signed"] is True and signed["signature_intact"] is True
    assert signed["signed_by"] == visit.doctor.display_name
    assert signed["signed_at"] and len(signed["signed_hash"]) == 64
    assert signed["signed_hash"] == VisitNote.objects.get(appointment=visit).content_hash()
    signing = AccessLogEntry.objects.get(what="note", action="sign")
    assert (signing.viewer, signing.address) == (visit.doctor.user, "127.0.0.1")

    refused = _save(doctor, visit, 1, subjective="Changed after signing")
    assert refused.status_code == 409
    assert refused.json()["code"] == "note_signed"
    assert doctor.get(_note(visit.pk)).json()["subjective"] == "Sore throat"
    # Later changes are dated addenda, as for a completed visit.
    added = doctor.post(_addenda(visit.pk), {"text": "Culture negative."})
    assert added.status_code == 201 and len(added.json()["text_hash"]) == 64
    assert doctor.get(_note(visit.pk)).json()["addenda"][0]["text"] == "Culture negative."


def test_an_empty_note_is_not_signed_and_others_may_not_sign(api, visit):
    doctor = api.as_user(visit.doctor.user)
    empty = _sign(doctor, visit, 1)
    assert empty.status_code == 400 and empty.json()["code"] == "note_empty"
    _save(doctor, visit, 0, plan="Rest")
    assert _sign(api.as_user(make_admin()), visit, 1).status_code == 403
    assert _sign(api.as_user(visit.patient.user), visit, 1).status_code == 403
    assert _sign(api.as_user(make_doctor().user), visit, 1).status_code == 404
    assert doctor.get(_note(visit.pk)).json()["signed"] is False
    assert not AccessLogEntry.objects.filter(action="sign").exists()
