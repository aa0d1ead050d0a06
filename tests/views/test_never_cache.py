"""Nothing Django renders may be kept by a browser or proxy cache: pages, API answers and the
admin all carry health data, or may. Static files are the exception, and stay cacheable."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import at, bearer, make_appointment, make_user
from visits.models import Role

pytestmark = pytest.mark.django_db

NEVER_CACHE = {"max-age=0", "no-cache", "no-store", "must-revalidate", "private"}


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed", reason="Chest pain")


def _directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part}


def _as(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


PAGES = {
    # name: (who is signed in, address); "patient"/"doctor" are the visit's own.
    "patient home": ("patient", lambda v: "/"),
    "doctor home": ("doctor", lambda v: "/"),
    "staff home": ("staff", lambda v: "/"),
    "doctor search": ("patient", lambda v: reverse("portal:book")),
    "slot page": ("patient", lambda v: reverse("portal:book-slot", args=[v.doctor_id])),
    "room page, patient": ("patient", lambda v: reverse("rooms:room", args=[v.room_id])),
    "room page, doctor (chart and note)": (
        "doctor",
        lambda v: reverse("rooms:room", args=[v.room_id]),
    ),
    "login page": (None, lambda v: reverse("login")),
    "a page's 404": ("patient", lambda v: "/book/999999/"),
    "admin index": ("staff", lambda v: "/admin/"),
    "admin chart": ("staff", lambda v: f"/admin/visits/patient/{v.patient_id}/change/"),
    "admin chat": ("staff", lambda v: "/admin/rooms/chatmessage/"),
    "admin notes": ("staff", lambda v: "/admin/visits/visitnote/"),
    "health check": (None, lambda v: "/healthz"),
    "session status (the logoff warning's question)": ("patient", lambda v: "/session/"),
    "API docs' script": ("patient", lambda v: "/api/docs/?script="),
}

API = {
    "patient chart": ("doctor", lambda v: f"/api/patients/{v.patient_id}/"),
    "visit note": ("doctor", lambda v: f"/api/appointments/{v.id}/notes/"),
    "appointment list": ("patient", lambda v: "/api/appointments/"),
    "appointment": ("patient", lambda v: f"/api/appointments/{v.id}/"),
    "me": ("patient", lambda v: "/api/me/"),
    "ice servers": ("patient", lambda v: f"/api/rooms/{v.room_id}/ice-servers"),
    "an API 404": ("doctor", lambda v: "/api/patients/999999/"),
    "an API 401": (None, lambda v: f"/api/patients/{v.patient_id}/"),
    "schema": ("patient", lambda v: "/api/schema/"),
    "docs": ("patient", lambda v: "/api/docs/"),
}


def _user(visit, who):
    return {
        "patient": visit.patient.user,
        "doctor": visit.doctor.user,
        "staff": make_user(Role.ADMIN),
        None: None,
    }[who]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_never_cached(visit, name):
    who, address = PAGES[name]
    response = _as(_user(visit, who)).get(address(visit))
    assert response.status_code < 500
    assert _directives(response) >= NEVER_CACHE, response.get("Cache-Control")


@pytest.mark.parametrize("name", API)
def test_every_api_answer_is_never_cached(visit, name):
    who, address = API[name]
    response = Client().get(address(visit), headers=bearer(_user(visit, who)))
    assert response.status_code < 500
    assert _directives(response) >= NEVER_CACHE, response.get("Cache-Control")


def test_a_rejected_write_is_never_cached_either(visit):
    response = Client().put(
        f"/api/appointments/{visit.id}/notes/",
        {"version": "x"},
        content_type="application/json",
        headers=bearer(visit.doctor.user),
    )
    assert response.status_code == 400
    assert _directives(response) >= NEVER_CACHE


def test_static_files_stay_cacheable(settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve from the source folders, no collectstatic
    response = Client().get("/static/css/clinic.css")
    assert response.status_code == 200
    directives = _directives(response)
    assert "public" in directives and "no-store" not in directives
