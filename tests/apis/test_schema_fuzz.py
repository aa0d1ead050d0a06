"""The OpenAPI schema at /api/schema/ is complete, and the API keeps its promises: generated
requests (valid and invalid, schemathesis with bounded examples) never get a 5xx, and every
answer matches the status codes, content types and bodies the schema documents."""

from datetime import timedelta

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.apis.routes import api_routes
from tests.factories import (
    add_chart_entries,
    at,
    bearer,
    make_admin,
    make_appointment,
    make_doctor,
    make_patient,
)

# Loaded through the WSGI app in-process: the schema exactly as the code under test serves it.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Routes that are not operations of the API: the schema itself, its UI, the JSON 404 fallback.
NOT_IN_SCHEMA = {"/api/schema/", "/api/docs/", "/api/{unknown}/"}
PUBLIC_OPERATIONS = {
    ("POST", "/api/auth/token/"),
    ("POST", "/api/auth/token/refresh/"),
    ("POST", "/api/auth/logout/"),
}
CREATING_OPERATIONS = {
    ("POST", "/api/appointments/"),
    ("POST", "/api/appointments/{appointment_id}/notes/addenda/"),
}
# Operations that accept work for later (202) rather than doing it.
ACCEPTING_OPERATIONS = {
    ("POST", "/api/appointments/{appointment_id}/draft-note/"),
    ("POST", "/api/recordings/{recording_id}/transcription/"),
}
# Operations that answer with no body on success.
NO_CONTENT_OPERATIONS = {("POST", "/api/auth/logout/")}
# Operations whose success is a file, not JSON (their errors are JSON like every other's).
# Operations whose one success body is not JSON (the FHIR export is JSON of its own type).
MEDIA_OPERATIONS = {
    ("GET", "/api/recordings/{recording_id}/media/"): "video/webm",
    ("GET", "/api/patients/{patient_id}/export/"): "application/fhir+json",
}


@pytest.fixture
def world():
    """Someone to call as, and real ids for the fuzzer to aim at besides random ones."""
    patient = add_chart_entries(make_patient(), count=2)
    tokyo = make_doctor(time_zone="Asia/Tokyo")
    new_york = make_doctor(time_zone="America/New_York")
    appointments = [
        make_appointment(doctor=tokyo, patient=patient, start=at(days=2)),
        make_appointment(doctor=new_york, patient=patient, start=at(days=3), status="confirmed"),
        # Started ten minutes ago, so complete and no-show can succeed.
        make_appointment(doctor=tokyo, patient=patient, start=at(minutes=-10), status="confirmed"),
        make_appointment(doctor=new_york, start=at(days=-2) - timedelta(hours=1)),
    ]
    return {
        "callers": {"patient": patient.user, "admin": make_admin()},
        "ids": {
            "appointment_id": [a.id for a in appointments],
            "doctor_id": [tokyo.id, new_york.id],
            "doctor": [tokyo.id, new_york.id],
            "patient_id": [patient.id],
            "patient": [patient.id],
        },
    }


def _aim_at_real_ids(case, ids: dict[str, list[int]], data) -> None:
    """Random integers almost never name a stored row; half the time, swap in one that does."""
    places = [case.path_parameters or {}]
    if isinstance(case.body, dict):
        places.append(case.body)
    for place in places:
        for name in set(place) & set(ids):
            if data.draw(st.booleans(), label=f"real {name}"):
                place[name] = data.draw(st.sampled_from(ids[name]), label=name)


@pytest.mark.django_db(transaction=True)  # the app under test runs its own transactions
@pytest.mark.parametrize("caller", ["patient", "admin"])
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_answers_the_schema_documents(case, caller, world, data):
    _aim_at_real_ids(case, world["ids"], data)
    case.call_and_validate(headers=bearer(world["callers"][caller]), checks=CHECKS)


def _documented_operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_schema_documents_every_api_route_and_nothing_else():
    operations = _documented_operations(schema.raw_schema)
    served = {route for route in api_routes() if route[1] not in NOT_IN_SCHEMA}
    assert set(operations) == served


def test_every_operation_documents_its_success_body_and_its_errors():
    for (method, path), operation in _documented_operations(schema.raw_schema).items():
        responses = operation["responses"]
        if (method, path) in NO_CONTENT_OPERATIONS:
            assert "204" in responses and "content" not in responses["204"], (method, path)
        elif (method, path) in MEDIA_OPERATIONS:
            assert set(responses["200"]["content"]) == {MEDIA_OPERATIONS[method, path]}, path
        else:
            success = "201" if (method, path) in CREATING_OPERATIONS else "200"
            if (method, path) in ACCEPTING_OPERATIONS:
                success = "202"
            assert "application/json" in responses[success]["content"], (method, path)
        if (method, path) not in PUBLIC_OPERATIONS:
            assert "401" in responses, (method, path)
            assert operation["security"], (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method == "POST":
            assert "400" in responses, (method, path)
            if "requestBody" in operation:
                assert "application/json" in operation["requestBody"]["content"], path
    assert "jwtAuth" in schema.raw_schema["components"]["securitySchemes"]


def test_lists_are_documented_as_pages_with_their_query_parameters():
    operations = _documented_operations(schema.raw_schema)
    for path, filters in [
        ("/api/appointments/", {"status", "date_from", "date_to"}),
        ("/api/doctors/", {"specialty", "search"}),
        ("/api/appointments/{appointment_id}/notes/versions/", set()),
    ]:
        operation = operations[("GET", path)]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert filters | {"page", "page_size"} <= names, path
        page = schema.raw_schema["components"]["schemas"][
            operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split(
                "/"
            )[-1]
        ]
        assert {"count", "next", "previous", "results"} <= set(page["properties"]), path


@pytest.mark.django_db
def test_schema_and_docs_are_served_to_anyone(client):
    document = client.get("/api/schema/", {"format": "json"})
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page
    # Swagger UI comes from our own static files (drf-spectacular-sidecar), not from a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
