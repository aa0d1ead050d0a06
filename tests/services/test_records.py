import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError
from tests.factories import at, make_appointment, make_doctor
from visits.models import AccessLogEntry, VisitNote, VisitNoteAddendum, VisitNoteVersion
from visits.services import (
    appointment_transition,
    visit_note_addendum_add,
    visit_note_save,
    visit_note_sign,
)
from visits.services.records import NOTE_CLOSED

pytestmark = pytest.mark.django_db


def test_the_visits_doctor_saves_versioned_notes_and_stale_saves_are_refused():
    visit = make_appointment(start=at(minutes=5))
    doctor = visit.doctor.user
    first = visit_note_save(
        user=doctor, appointment_id=visit.pk, sections={"subjective": "Tired"}, base_version=0
    )
    second = visit_note_save(
        user=doctor, appointment_id=visit.pk, sections={"plan": "Bloods"}, base_version=1
    )
    assert (first.version, second.version) == (1, 2)
    assert (second.subjective, second.plan, second.updated_by) == ("Tired", "Bloods", doctor)
    with pytest.raises(ConflictError, match="version 2"):
        visit_note_save(
            user=doctor, appointment_id=visit.pk, sections={"plan": "Lost?"}, base_version=1
        )
    second.refresh_from_db()
    assert second.plan == "Bloods"


def test_only_the_visits_doctor_writes_its_note():
    visit = make_appointment(start=at(minutes=5))
    with pytest.raises(PermissionDeniedError):
        visit_note_save(
            user=visit.patient.user, appointment_id=visit.pk, sections={"plan": "x"}, base_version=0
        )
    with pytest.raises(NotFoundError):
        visit_note_save(
            user=make_doctor().user, appointment_id=visit.pk, sections={"plan": "x"}, base_version=0
        )


def test_the_doctors_room_page_shows_the_chart_and_records_the_access(client):
    visit = make_appointment(start=at(minutes=5))
    visit.patient.allergies.create(substance="Penicillin", severity="severe")
    url = reverse("rooms:room", args=[visit.room_id])
    client.force_login(visit.doctor.user)
    page = client.get(url).content.decode()
    assert "Penicillin" in page and 'id="notes-form"' in page
    access = AccessLogEntry.objects.health_data().get()
    assert (access.viewer, access.patient, access.channel, access.appointment) == (
        visit.doctor.user,
        visit.patient,
        "visit_room",
        visit,
    )
    assert (access.what, access.action, access.viewer_role) == ("chart", "view", "doctor")
    # The patient's own page has the visit, not the chart, and leaves no chart access behind.
    client.force_login(visit.patient.user)
    page = client.get(url).content.decode()
    assert "Penicillin" not in page and 'id="notes-form"' not in page
    assert AccessLogEntry.objects.health_data().count() == 1
    assert "CALLS_APP_SECRET" not in page


def test_chart_reads_through_the_api_are_recorded_too(client):
    visit = make_appointment(start=at(days=1))
    client.force_login(visit.doctor.user)
    assert client.get(f"/api/patients/{visit.patient_id}/").status_code == 200
    assert client.get(f"/api/patients/{visit.patient_id + 999}/").status_code == 404
    assert list(
        AccessLogEntry.objects.health_data().values_list("viewer", "patient", "channel")
    ) == [(visit.doctor.user_id, visit.patient_id, "api")]


def test_every_save_keeps_its_version_with_who_and_when():
    visit = make_appointment(start=at(minutes=5))
    doctor = visit.doctor.user
    before = timezone.now()
    texts = ["Tired", "Tired, worse at night", "Tired, worse at night; no fever"]
    for base_version, text in enumerate(texts):
        visit_note_save(
            user=doctor,
            appointment_id=visit.pk,
            sections={"subjective": text, "plan": f"Plan {base_version}"},
            base_version=base_version,
        )
    versions = list(VisitNoteVersion.objects.filter(note__appointment=visit).order_by("version"))
    assert [(v.version, v.subjective, v.plan) for v in versions] == [
        (1, texts[0], "Plan 0"),
        (2, texts[1], "Plan 1"),
        (3, texts[2], "Plan 2"),
    ]
    assert all(v.saved_by == doctor and before <= v.saved_at <= timezone.now() for v in versions)
    assert versions[0].saved_at <= versions[1].saved_at <= versions[2].saved_at
    # The note itself still counts versions for the editors' optimistic concurrency.
    assert VisitNote.objects.get(appointment=visit).version == 3
    # Each save is in the access log too, as the write it was.
    assert list(
        AccessLogEntry.objects.health_data()
        .order_by("pk")
        .values_list("what", "action", "viewer_role")
    ) == [("note", "create", "doctor"), ("note", "update", "doctor"), ("note", "update", "doctor")]


def test_a_refused_save_keeps_no_version():
    visit = make_appointment(start=at(minutes=5))
    doctor = visit.doctor.user
    visit_note_save(user=doctor, appointment_id=visit.pk, sections={"plan": "A"}, base_version=0)
    with pytest.raises(ConflictError):
        visit_note_save(
            user=doctor, appointment_id=visit.pk, sections={"plan": "B"}, base_version=0
        )
    assert VisitNoteVersion.objects.count() == 1


def _completed_visit_with_note(text: str = "Cough for a week"):
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    doctor = visit.doctor.user
    visit_note_save(
        user=doctor, appointment_id=visit.pk, sections={"subjective": text}, base_version=0
    )
    appointment_transition(user=doctor, appointment_id=visit.pk, action="complete")
    return visit, doctor


def test_a_completed_visits_note_is_closed_to_saves():
    visit, doctor = _completed_visit_with_note()
    with pytest.raises(ConflictError, match=re.escape(NOTE_CLOSED)):
        visit_note_save(
            user=doctor, appointment_id=visit.pk, sections={"subjective": "Edited"}, base_version=1
        )
    note = VisitNote.objects.get(appointment=visit)
    assert (note.subjective, note.version) == ("Cough for a week", 1)
    assert VisitNoteVersion.objects.filter(note=note).count() == 1


def test_addenda_follow_a_completed_visit_dated_and_by_its_doctor():
    visit, doctor = _completed_visit_with_note()
    addendum = visit_note_addendum_add(
        user=doctor, appointment_id=visit.pk, text="  Lab results: normal.  "
    )
    assert (addendum.text, addendum.author, addendum.note.appointment) == (
        "Lab results: normal.",
        doctor,
        visit,
    )
    assert addendum.created_at is not None
    assert AccessLogEntry.objects.filter(what="note", action="addendum").count() == 1
    with pytest.raises(PermissionDeniedError):
        visit_note_addendum_add(user=visit.patient.user, appointment_id=visit.pk, text="Mine")
    with pytest.raises(NotFoundError):
        visit_note_addendum_add(user=make_doctor().user, appointment_id=visit.pk, text="Mine")
    with pytest.raises(ApplicationError, match="text"):
        visit_note_addendum_add(user=doctor, appointment_id=visit.pk, text="   ")
    # Before completion the note itself is edited; addenda are for the closed record.
    open_visit = make_appointment(start=at(minutes=5))
    with pytest.raises(ConflictError, match="edit the note"):
        visit_note_addendum_add(user=open_visit.doctor.user, appointment_id=open_visit.pk, text="x")
    assert VisitNoteAddendum.objects.count() == 1


def test_versions_addenda_and_access_entries_cannot_be_changed_once_written():
    visit, doctor = _completed_visit_with_note()
    addendum = visit_note_addendum_add(user=doctor, appointment_id=visit.pk, text="Later")
    for record in (
        VisitNoteVersion.objects.get(),
        addendum,
        AccessLogEntry.objects.health_data().first(),
    ):
        with pytest.raises(ValueError, match=r"cannot be changed|append-only"):
            record.save()


def test_the_room_sidebar_shows_earlier_notes_with_their_addenda(client):
    earlier, doctor = _completed_visit_with_note("Sprained ankle")
    visit_note_addendum_add(user=doctor, appointment_id=earlier.pk, text="X-ray: no fracture.")
    # Right after the earlier one (which began ten minutes ago and lasts twenty).
    visit = make_appointment(doctor=earlier.doctor, patient=earlier.patient, start=earlier.end)
    client.force_login(doctor)
    page = client.get(reverse("rooms:room", args=[visit.room_id])).content.decode()
    assert "Sprained ankle" in page and "X-ray: no fracture." in page


def test_the_room_sidebar_says_which_earlier_notes_are_signed_and_by_whom(client):
    signed, doctor = _completed_visit_with_note("Sprained ankle")
    visit_note_sign(user=doctor, appointment_id=signed.pk, base_version=1)
    unsigned = make_appointment(
        doctor=signed.doctor,
        patient=signed.patient,
        start=signed.start - timedelta(days=7),
        status="in_progress",
    )
    visit_note_save(
        user=doctor, appointment_id=unsigned.pk, sections={"plan": "Draft"}, base_version=0
    )
    appointment_transition(user=doctor, appointment_id=unsigned.pk, action="complete")
    visit = make_appointment(doctor=signed.doctor, patient=signed.patient, start=signed.end)
    client.force_login(doctor)
    page = client.get(reverse("rooms:room", args=[visit.room_id])).content.decode()
    signed.note.refresh_from_db()
    assert f"Signed by {signed.doctor.display_name}" in page
    assert signed.note.signed_hash in page
    assert page.count("Unsigned") == 1  # the earlier visit's draft; this visit's note is empty


# --- Signing -------------------------------------------------------------------------------------


def _written(visit, **sections) -> VisitNote:
    return visit_note_save(
        user=visit.doctor.user, appointment_id=visit.pk, sections=sections, base_version=0
    )


def test_signing_stores_who_when_and_the_hash_of_the_text_signed_and_is_audited():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    _written(visit, subjective="Cough", plan="Rest")
    before = timezone.now()
    note = visit_note_sign(user=visit.doctor.user, appointment_id=visit.pk, base_version=1)
    note.refresh_from_db()
    assert note.signed_by == visit.doctor.user and note.signed_at >= before
    expected = hashlib.sha256(
        json.dumps(
            {"assessment": "", "objective": "", "plan": "Rest", "subjective": "Cough"},
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert note.signed_hash == expected and note.signature_intact is True
    entry = AccessLogEntry.objects.get(action=AccessLogEntry.Action.SIGN)
    assert (entry.viewer, entry.what, entry.appointment, entry.patient) == (
        visit.doctor.user,
        "note",
        visit,
        visit.patient,
    )
    assert expected in entry.record
    # A change behind the application's back (in the database) no longer matches the hash.
    VisitNote.objects.filter(pk=note.pk).update(plan="Rest and fluids")
    note.refresh_from_db()
    assert note.signature_intact is False


def test_a_signed_note_refuses_saves_and_a_second_signature():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    _written(visit, assessment="Viral")
    visit_note_sign(user=visit.doctor.user, appointment_id=visit.pk, base_version=1)
    with pytest.raises(ConflictError, match="signed") as refused:
        visit_note_save(
            user=visit.doctor.user,
            appointment_id=visit.pk,
            sections={"assessment": "Bacterial"},
            base_version=1,
        )
    assert refused.value.code == "note_signed"
    with pytest.raises(ConflictError) as again:
        visit_note_sign(user=visit.doctor.user, appointment_id=visit.pk, base_version=1)
    assert again.value.code == "note_already_signed"
    note = VisitNote.objects.get(appointment=visit)
    assert (note.assessment, note.version, note.versions.count()) == ("Viral", 1, 1)
    assert AccessLogEntry.objects.filter(action="sign").count() == 1


def test_an_empty_or_stale_note_is_not_signed():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    doctor = visit.doctor.user
    with pytest.raises(ApplicationError, match="empty") as unsaved:
        visit_note_sign(user=doctor, appointment_id=visit.pk, base_version=0)
    assert unsaved.value.code == "note_empty"
    _written(visit, plan="   ")
    with pytest.raises(ApplicationError, match="empty"):
        visit_note_sign(user=doctor, appointment_id=visit.pk, base_version=1)
    visit_note_save(user=doctor, appointment_id=visit.pk, sections={"plan": "Rest"}, base_version=1)
    # Signing what the doctor has not seen (version 1, the blank one) is refused.
    with pytest.raises(ConflictError) as stale:
        visit_note_sign(user=doctor, appointment_id=visit.pk, base_version=1)
    assert stale.value.code == "note_changed_elsewhere"
    assert not VisitNote.objects.get(appointment=visit).is_signed
    assert not AccessLogEntry.objects.filter(action="sign").exists()


def test_only_the_visits_doctor_signs():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    _written(visit, plan="Rest")
    with pytest.raises(PermissionDeniedError, match="signs"):
        visit_note_sign(user=visit.patient.user, appointment_id=visit.pk, base_version=1)
    with pytest.raises(NotFoundError):
        visit_note_sign(user=make_doctor().user, appointment_id=visit.pk, base_version=1)
    assert not VisitNote.objects.get(appointment=visit).is_signed


def test_a_signed_note_takes_addenda_each_signed_by_its_author():
    visit = make_appointment(start=at(minutes=-10), status="in_progress")
    _written(visit, plan="Rest")
    with pytest.raises(ConflictError) as unsigned:
        visit_note_addendum_add(user=visit.doctor.user, appointment_id=visit.pk, text="Early")
    assert unsigned.value.code == "note_still_open"
    visit_note_sign(user=visit.doctor.user, appointment_id=visit.pk, base_version=1)
    addendum = visit_note_addendum_add(
        user=visit.doctor.user, appointment_id=visit.pk, text="Bloods normal."
    )
    assert (addendum.author, addendum.note.appointment) == (visit.doctor.user, visit)
    assert addendum.created_at is not None
    assert addendum.text_hash == hashlib.sha256(b"Bloods normal.").hexdigest()
    with pytest.raises(ValueError, match="cannot be changed"):
        addendum.text = "Rewritten"
        addendum.save()
