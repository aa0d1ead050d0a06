import pytest
from django.urls import reverse

from clinic.errors import ConflictError, NotFoundError, PermissionDeniedError
from tests.factories import at, make_appointment, make_doctor
from visits.models import ChartAccess
from visits.services import visit_note_save

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
    access = ChartAccess.objects.get()
    assert (access.viewer, access.patient, access.channel) == (
        visit.doctor.user,
        visit.patient,
        "visit_room",
    )
    # The patient's own page has the visit, not the chart, and leaves no chart access behind.
    client.force_login(visit.patient.user)
    page = client.get(url).content.decode()
    assert "Penicillin" not in page and 'id="notes-form"' not in page
    assert ChartAccess.objects.count() == 1
    assert "CALLS_APP_SECRET" not in page


def test_chart_reads_through_the_api_are_recorded_too(client):
    visit = make_appointment(start=at(days=1))
    client.force_login(visit.doctor.user)
    assert client.get(f"/api/patients/{visit.patient_id}/").status_code == 200
    assert client.get(f"/api/patients/{visit.patient_id + 999}/").status_code == 404
    assert list(ChartAccess.objects.values_list("viewer", "patient", "channel")) == [
        (visit.doctor.user_id, visit.patient_id, "api")
    ]
