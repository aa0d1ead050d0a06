"""The doctor directory and a doctor's free slots of a day, in the doctor's time zone."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    make_appointment,
    make_doctor,
    make_patient,
    next_day,
    slot_at,
)
from visits.models import Doctor
from visits.services import doctor_set_working_hours

pytestmark = pytest.mark.django_db

DOCTORS = "/api/doctors/"
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def _slots_url(doctor_id: int) -> str:
    return f"/api/doctors/{doctor_id}/slots/"


@pytest.fixture
def patient_api(api):
    return api.as_user(make_patient().user)


# --- GET /api/doctors/ -----------------------------------------------------------------------


def test_the_directory_is_a_page_of_active_doctors_by_name(patient_api):
    b = make_doctor(display_name="Dr. Baker", specialty="Cardiology")
    a = make_doctor(display_name="Dr. Adams", specialty="Dermatology")
    retired = make_doctor(display_name="Dr. Retired")
    Doctor.objects.filter(pk=retired.pk).update(is_active=False)
    response = patient_api.get(DOCTORS)
    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {"id": a.id, "display_name": "Dr. Adams", "specialty": "Dermatology"},
            {"id": b.id, "display_name": "Dr. Baker", "specialty": "Cardiology"},
        ],
    }


def test_specialty_filters_exactly_ignoring_case(patient_api):
    cardio = make_doctor(specialty="Cardiology")
    make_doctor(specialty="Pediatric cardiology")
    make_doctor(specialty="Dermatology")
    results = patient_api.get(DOCTORS, {"specialty": "cardiology"}).json()["results"]
    assert [d["id"] for d in results] == [cardio.id]


def test_search_matches_name_or_specialty(patient_api):
    by_name = make_doctor(display_name="Dr. Aiko Tanaka", specialty="Family medicine")
    by_specialty = make_doctor(display_name="Dr. Zed", specialty="Tanaka syndrome clinic")
    make_doctor(display_name="Dr. Other", specialty="Dermatology")
    results = patient_api.get(DOCTORS, {"search": "tanaka"}).json()["results"]
    assert {d["id"] for d in results} == {by_name.id, by_specialty.id}


def test_the_directory_pages(patient_api):
    for _ in range(3):
        make_doctor()
    first = patient_api.get(DOCTORS, {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["next"].startswith("http://testserver/api/doctors/?")
    second = patient_api.get(DOCTORS, {"page_size": 2, "page": 2}).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert patient_api.get(DOCTORS, {"page": 9}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [{"search": "x" * 121}, {"specialty": "x" * 121}, {"search": "a\x00b"}],
)
def test_directory_filters_are_validated(patient_api, params):
    response = patient_api.get(DOCTORS, params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def _count_queries(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200
    return len(queries)


def test_the_directory_costs_the_same_queries_for_3_or_30_doctors(
    patient_api, django_assert_max_num_queries
):
    for _ in range(3):
        make_doctor()
    few = _count_queries(lambda: patient_api.get(DOCTORS, {"page_size": 100}))
    for _ in range(27):
        make_doctor()
    with django_assert_max_num_queries(few):
        response = patient_api.get(DOCTORS, {"page_size": 100})
    assert len(response.json()["results"]) == 30


# --- GET /api/doctors/{id}/slots/ ------------------------------------------------------------


def _starts(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [slot["start"] for slot in response.json()["slots"]]


def test_slots_are_the_days_free_working_slots_with_their_offset(patient_api):
    doctor = make_doctor()  # UTC, 08:00-18:00, 20 minutes
    day = next_day(days=2)
    make_appointment(doctor=doctor, start=slot_at(day, 9))  # booked
    cancelled = make_appointment(doctor=doctor, start=slot_at(day, 10))
    cancelled.status = "cancelled"
    cancelled.save()
    response = patient_api.get(_slots_url(doctor.id), {"date": day.isoformat()})
    body = response.json()
    assert (body["doctor"], body["date"]) == (doctor.id, day.isoformat())
    starts = _starts(response)
    assert len(starts) == 30 - 1
    assert starts[0] == f"{day}T08:00:00Z"
    assert not any("T09:00:00" in start for start in starts)
    assert any("T10:00:00" in start for start in starts)  # a cancelled visit frees its slot
    assert body["slots"][-1]["end"].startswith(f"{day}T18:00:00")
    for slot in body["slots"]:
        assert datetime.fromisoformat(slot["start"]).utcoffset() is not None


def test_slots_leave_out_the_past(patient_api):
    doctor = make_doctor()
    now = datetime.now(UTC)
    today = now.date()
    starts = _starts(patient_api.get(_slots_url(doctor.id), {"date": today.isoformat()}))
    assert all(datetime.fromisoformat(start) > now for start in starts)
    yesterday = today - timedelta(days=1)
    assert _starts(patient_api.get(_slots_url(doctor.id), {"date": str(yesterday)})) == []
    # Days long gone are simply empty, whatever the doctor's zone.
    tokyo = make_doctor(time_zone="Asia/Tokyo")
    assert _starts(patient_api.get(_slots_url(tokyo.id), {"date": "0001-01-01"})) == []


def test_a_day_off_has_no_slots(patient_api):
    day = next_day(days=3)
    doctor = make_doctor(weekdays=[(day.weekday() + 1) % 7])
    assert _starts(patient_api.get(_slots_url(doctor.id), {"date": day.isoformat()})) == []


def test_slots_follow_the_doctors_zone_across_the_utc_day_boundary(patient_api):
    doctor = make_doctor(time_zone="Asia/Tokyo")  # UTC+9: 08:00 Tokyo is 23:00 UTC the day before
    day = next_day(days=3)
    taken = make_appointment(doctor=doctor, start=slot_at(day - timedelta(days=1), 23))
    body = patient_api.get(_slots_url(doctor.id), {"date": day.isoformat()}).json()
    starts = [slot["start"] for slot in body["slots"]]
    assert body["time_zone"] == "Asia/Tokyo"
    assert starts[0] == f"{day}T08:20:00+09:00"  # 08:00 Tokyo is taken (23:00 UTC the day before)
    assert datetime.fromisoformat(starts[0]) == taken.end
    assert body["slots"][-1]["end"] == f"{day}T18:00:00+09:00"
    assert len(starts) == 29


def _next_offset_change(zone, *, later: bool) -> date:
    """The next day (from tomorrow, within a year) on which `zone`'s clocks move forward
    (`later`) or back."""
    day = next_day(days=1)
    for _ in range(365):
        before = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        after = datetime.combine(day, time(23), tzinfo=zone).utcoffset()
        if before != after and (after > before) == later:
            return day
        day += timedelta(days=1)
    raise AssertionError(f"no clock change in {zone} within a year")


def test_slots_carry_the_new_offset_on_the_day_clocks_spring_forward(patient_api):
    doctor = make_doctor(time_zone="America/New_York")
    day = _next_offset_change(NEW_YORK, later=True)
    before = _starts(patient_api.get(_slots_url(doctor.id), {"date": str(day - timedelta(days=1))}))
    on = _starts(patient_api.get(_slots_url(doctor.id), {"date": str(day)}))
    assert before[0] == f"{day - timedelta(days=1)}T08:00:00-05:00"
    assert on[0] == f"{day}T08:00:00-04:00"
    assert len(before) == len(on) == 30
    # Same wall time, one hour less from UTC midnight.
    assert datetime.fromisoformat(on[0]).astimezone(UTC).hour == 12
    assert datetime.fromisoformat(before[0]).astimezone(UTC).hour == 13


def test_working_hours_across_the_night_clocks_go_back_give_true_20_minute_slots(patient_api):
    doctor = make_doctor(time_zone="America/New_York")
    day = _next_offset_change(NEW_YORK, later=False)
    # 00:00-03:00 on the night 01:00-02:00 happens twice: four real hours of work.
    doctor_set_working_hours(doctor=doctor, weekly_hours={day.weekday(): [(time(0), time(3))]})
    slots = patient_api.get(_slots_url(doctor.id), {"date": day.isoformat()}).json()["slots"]
    instants = [
        (datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])) for s in slots
    ]
    assert len(slots) == 4 * 3
    assert all(end - start == timedelta(minutes=20) for start, end in instants)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(instants))
    wall_times = [s["start"][11:] for s in slots]
    assert "01:20:00-04:00" in wall_times and "01:20:00-05:00" in wall_times


def test_a_slot_in_the_repeated_hour_can_be_booked_by_its_offset(patient_api):
    doctor = make_doctor(time_zone="America/New_York")
    day = _next_offset_change(NEW_YORK, later=False)
    doctor_set_working_hours(doctor=doctor, weekly_hours={day.weekday(): [(time(0), time(3))]})
    second_one_twenty = f"{day}T01:20:00-05:00"  # after the clocks went back
    response = patient_api.post(
        "/api/appointments/", {"doctor": doctor.id, "start": second_one_twenty, "reason": "Rash"}
    )
    assert response.status_code == 201, response.content
    assert (response.json()["start"], response.json()["end"]) == (
        second_one_twenty,
        f"{day}T01:40:00-05:00",
    )
    starts = _starts(patient_api.get(_slots_url(doctor.id), {"date": day.isoformat()}))
    assert second_one_twenty not in starts and f"{day}T01:20:00-04:00" in starts


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "required"),
        ({"date": "2030-02-30"}, "wrong format"),
        ({"date": "tomorrow"}, "wrong format"),
        ({"date": "2030-13-01"}, "wrong format"),
        ({"date": ""}, "wrong format"),
    ],
)
def test_the_date_is_required_and_must_be_a_real_day(patient_api, params, message):
    doctor = make_doctor()
    response = patient_api.get(_slots_url(doctor.id), params)
    assert response.status_code == 400
    assert message in response.json()["date"][0]


def test_slots_are_listed_at_most_a_year_ahead(patient_api):
    doctor = make_doctor()
    assert (
        patient_api.get(_slots_url(doctor.id), {"date": str(next_day(days=366))}).status_code == 200
    )
    response = patient_api.get(_slots_url(doctor.id), {"date": str(next_day(days=367))})
    assert response.status_code == 400
    assert response.json() == {"date": ["Slots can be listed at most a year ahead."]}
    assert patient_api.get(_slots_url(doctor.id), {"date": "9999-12-31"}).status_code == 400


def test_unknown_or_inactive_doctors_have_no_slots(patient_api):
    day = str(next_day())
    response = patient_api.get(_slots_url(987654), {"date": day})
    assert response.status_code == 404
    assert response.json() == {"detail": "No such doctor."}
    doctor = make_doctor()
    Doctor.objects.filter(pk=doctor.pk).update(is_active=False)
    assert patient_api.get(_slots_url(doctor.id), {"date": day}).status_code == 404
    assert patient_api.get("/api/doctors/abc/slots/", {"date": day}).status_code == 404


def test_slots_cost_the_same_queries_with_3_or_30_appointments_that_day(
    patient_api, django_assert_max_num_queries
):
    doctor = make_doctor()
    day = next_day(days=2)
    starts = [slot_at(day, 8) + timedelta(minutes=20 * n) for n in range(30)]  # the whole day
    for start in starts[:3]:
        make_appointment(doctor=doctor, start=start)
    url, params = _slots_url(doctor.id), {"date": str(day)}
    few = _count_queries(lambda: patient_api.get(url, params))
    for start in starts[3:]:
        make_appointment(doctor=doctor, start=start)
    with django_assert_max_num_queries(few):
        response = patient_api.get(url, params)
    assert _starts(response) == []
