"""The security headers of every kind of page and answer: the Content-Security-Policy (nothing
but the site's own files, no inline script or style, never framed), the Permissions-Policy
(camera, microphone and screen capture on the visit room's page only), and SecurityMiddleware's
Referrer-Policy, Cross-Origin-Opener-Policy and nosniff. A new page gets a row in PAGES.
Whether the pages really run under the policy is the browser's to say:
tests/e2e/test_content_security_policy.py."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import at, bearer, make_admin, make_appointment

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
CAPTURE_FEATURES = ("camera", "microphone", "display-capture", "speaker-selection")


@dataclass(frozen=True)
class Page:
    who: str | None  # "patient" / "doctor" are the visit's own; "staff"; None: nobody
    address: Callable  # visit -> URL
    status: int = 200
    captures: bool = False  # may use the camera, the microphone and screen capture
    api: bool = False  # asked with the visitor's JWT, as API clients do


PAGES = {
    "login": Page(None, lambda v: reverse("login")),
    "patient home": Page("patient", lambda v: "/"),
    "doctor home": Page("doctor", lambda v: "/"),
    "staff home": Page("staff", lambda v: "/"),
    "booking: doctors": Page("patient", lambda v: reverse("portal:book")),
    "booking: slots": Page("patient", lambda v: reverse("portal:book-slot", args=[v.doctor_id])),
    "reschedule": Page("patient", lambda v: reverse("portal:reschedule", args=[v.id]), status=200),
    "room, patient": Page(
        "patient", lambda v: reverse("rooms:room", args=[v.room_id]), captures=True
    ),
    "room, doctor (chart and note)": Page(
        "doctor", lambda v: reverse("rooms:room", args=[v.room_id]), captures=True
    ),
    "room, signed out (to the login page)": Page(
        None, lambda v: reverse("rooms:room", args=[v.room_id]), status=302, captures=True
    ),
    "recordings playback": Page(
        "doctor", lambda v: reverse("recordings:visit-recordings", args=[v.id])
    ),
    "transcript": Page("doctor", lambda v: reverse("transcripts:visit-transcript", args=[v.id])),
    "session status": Page("patient", lambda v: reverse("portal:session-status")),
    "two-step sign-in: code step (none pending: to sign-in)": Page(
        None, lambda v: reverse("login-code"), status=302
    ),
    "two-step sign-in: overview": Page("patient", lambda v: reverse("mfa")),
    "two-step sign-in: set-up (QR code)": Page("patient", lambda v: reverse("mfa-enrol")),
    "record: print view": Page("patient", lambda v: reverse("portal:record")),
    "record: FHIR download": Page("patient", lambda v: reverse("portal:record-download")),
    "record: API export": Page(
        "patient", lambda v: f"/api/patients/{v.patient_id}/export/", api=True
    ),
    "404 page": Page("patient", lambda v: "/book/999999/", status=404),
    "400 page (NUL)": Page("patient", lambda v: "/?q=%00", status=400),
    "admin login": Page(None, lambda v: "/admin/login/"),
    "admin index": Page("staff", lambda v: "/admin/"),
    "admin change list": Page("staff", lambda v: "/admin/visits/appointment/"),
    "admin change form": Page("staff", lambda v: f"/admin/visits/patient/{v.patient_id}/change/"),
    "admin popup": Page("staff", lambda v: "/admin/visits/doctor/?_popup=1&_to_field=id"),
    "API docs": Page("patient", lambda v: "/api/docs/"),
    "API docs' script": Page("patient", lambda v: "/api/docs/?script="),
    "API schema": Page("patient", lambda v: "/api/schema/"),
    "API answer": Page("patient", lambda v: f"/api/appointments/{v.id}/", api=True),
    "API 401": Page(None, lambda v: "/api/appointments/", status=401, api=True),
    "health check": Page(None, lambda v: "/healthz"),
}


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=5), status="confirmed")


def _get(visit, page: Page):
    user = {
        "patient": lambda: visit.patient.user,
        "doctor": lambda: visit.doctor.user,
        "staff": make_admin,
        None: lambda: None,
    }[page.who]()
    client = Client()
    if page.api:
        return client.get(page.address(visit), headers=bearer(user))
    if user is not None:
        client.force_login(user)
    return client.get(page.address(visit))


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def features(header: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in header.split(",") if part.strip())


@pytest.fixture(params=PAGES, ids=str)
def answer(request, visit):
    page = PAGES[request.param]
    response = _get(visit, page)
    assert response.status_code == page.status, response.content[:300]
    return page, response


def test_every_page_has_the_content_security_policy(answer):
    _, response = answer
    policy = directives(response.get("Content-Security-Policy", ""))
    assert policy == policy | POLICY, response.get("Content-Security-Policy")
    assert not any("unsafe" in sources for sources in policy.values())


def test_only_the_room_may_use_camera_microphone_and_screen_capture(answer):
    page, response = answer
    granted = features(response.get("Permissions-Policy", ""))
    expected = "(self)" if page.captures else "()"
    assert {feature: granted.get(feature) for feature in CAPTURE_FEATURES} == dict.fromkeys(
        CAPTURE_FEATURES, expected
    )
    assert granted["geolocation"] == "()"


def test_every_page_keeps_referrers_openers_and_content_types_to_itself(answer):
    _, response = answer
    assert response.get("Referrer-Policy") == "same-origin"
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin"
    assert response.get("X-Content-Type-Options") == "nosniff"
    assert response.get("X-Frame-Options") == "DENY"


def test_the_room_page_needs_no_nonce_its_config_is_json(visit):
    """The room page's scripts are files; its config a JSON data block, never run."""
    response = _get(visit, PAGES["room, doctor (chart and note)"])
    html = response.content.decode()
    assert '<script id="room-config" type="application/json">' in html
    assert "nonce-" not in response["Content-Security-Policy"]
    scripts = html.count("<script")
    assert scripts == html.count('<script type="module" src=') + 1  # + the JSON block


def test_static_files_carry_the_policies_too(settings):
    """A worker's script gets its policy from its own answer (CSP Level 3)."""
    settings.WHITENOISE_USE_FINDERS = True
    response = Client().get("/static/js/room/e2ee/transform-worker.js")
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"])["worker-src"] == "'self'"
    assert response["X-Content-Type-Options"] == "nosniff"
