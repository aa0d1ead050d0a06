"""The recordings API over the test client: the contract's fields, who sees what (404 for
every stranger on every endpoint), playing by HTTP Range, the access log and no caching."""

import hashlib
import secrets
import uuid
import warnings

import pytest
from django.core.cache import cache
from django.test import AsyncClient, Client

from rooms.recordings.models import Recording, RecordingConsent
from tests.factories import at, bearer, make_admin, make_appointment, make_doctor, make_patient
from tests.recordings.factories import make_ready_recording, make_recording
from visits.models import AccessLogEntry

pytestmark = pytest.mark.django_db

MEDIA = secrets.token_bytes(300_000)  # a little over four and a half encryption blocks


@pytest.fixture
def visit():
    return make_appointment(start=at(minutes=-30))


@pytest.fixture
def ready(visit):
    return make_ready_recording(visit, media=MEDIA)


def get(user, path, **headers):
    return Client().get(path, headers={**bearer(user), **headers})


def media_url(recording, query=""):
    return f"/api/recordings/{recording.id}/media/{query}"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def recording_entries(**filters):
    return AccessLogEntry.objects.filter(what=AccessLogEntry.What.RECORDING, **filters)


# --- The contract ------------------------------------------------------------------------------


def test_the_list_has_the_contracts_fields(visit, ready):
    response = get(visit.doctor.user, f"/api/appointments/{visit.id}/recordings/")
    assert response.status_code == 200
    [item] = response.json()
    assert set(item) == {
        "id",
        "appointment",
        "started_at",
        "ended_at",
        "duration_seconds",
        "size_bytes",
        "sha256",
        "status",
        "consents",
    }
    assert item["id"] == str(ready.id)
    assert item["appointment"] == visit.id
    assert item["status"] == "ready"
    assert item["size_bytes"] == len(MEDIA)
    assert item["sha256"] == hashlib.sha256(MEDIA).hexdigest()
    assert item["duration_seconds"] == 12.5
    assert item["started_at"] and item["ended_at"]
    assert [set(consent) for consent in item["consents"]] == [
        {"user_id", "role", "decision", "at"}
    ] * 2
    assert [(c["user_id"], c["role"], c["decision"]) for c in item["consents"]] == [
        (visit.doctor.user_id, "doctor", "allowed"),
        (visit.patient.user_id, "patient", "allowed"),
    ]


def test_the_detail_is_one_of_the_list(visit, ready):
    listed = get(visit.doctor.user, f"/api/appointments/{visit.id}/recordings/").json()
    detail = get(visit.doctor.user, f"/api/recordings/{ready.id}/")
    assert detail.status_code == 200
    assert detail.json() == listed[0]


def test_a_recording_still_on_has_no_figures_yet(visit):
    recording = make_recording(visit)
    item = get(visit.patient.user, f"/api/recordings/{recording.id}/").json()
    assert item["status"] == "recording"
    assert (item["ended_at"], item["size_bytes"], item["sha256"]) == (None, None, None)


def test_only_listed_statuses_are_shown(visit, ready):
    shown = {ready.id}
    for status in Recording.Status:
        recording = make_recording(visit, status=status, ended_at=at(minutes=-1))
        if status in Recording.LISTED:
            shown.add(recording.id)
        else:
            assert get(visit.doctor.user, f"/api/recordings/{recording.id}/").status_code == 404
    listed = get(visit.doctor.user, f"/api/appointments/{visit.id}/recordings/").json()
    assert {uuid.UUID(item["id"]) for item in listed} == shown
    assert {item["status"] for item in listed} == {"recording", "processing", "ready", "failed"}


def test_a_withdrawal_is_among_the_consents(visit):
    recording = make_recording(visit, status=Recording.Status.READY, ended_at=at())
    RecordingConsent.objects.create(
        recording=recording,
        user=visit.patient.user,
        role="patient",
        decision=RecordingConsent.Decision.WITHDRAWN,
    )
    item = get(visit.patient.user, f"/api/recordings/{recording.id}/").json()
    assert [c["decision"] for c in item["consents"]] == ["allowed", "allowed", "withdrawn"]


# --- Who sees what -----------------------------------------------------------------------------


def endpoints(visit, ready, live):
    """Every recording endpoint as (method, path, body)."""
    return [
        ("GET", f"/api/appointments/{visit.id}/recordings/", None),
        ("GET", f"/api/recordings/{ready.id}/", None),
        ("GET", media_url(ready), None),
        ("GET", media_url(ready, "?download=1"), None),
        ("PUT", f"/api/recordings/{live.id}/chunks/0/", b"chunk"),
    ]


def call(user, method, path, data):
    client = Client()
    if method == "GET":
        return client.get(path, headers=bearer(user))
    return client.put(path, data, content_type="application/octet-stream", headers=bearer(user))


@pytest.mark.parametrize("stranger", ["other_patient", "other_doctor"])
def test_strangers_get_404_from_every_endpoint(visit, ready, stranger):
    live = make_recording(visit)
    user = make_patient().user if stranger == "other_patient" else make_doctor().user
    make_appointment(patient=user.patient) if stranger == "other_patient" else None
    for method, path, data in endpoints(visit, ready, live):
        response = call(user, method, path, data)
        assert response.status_code == 404, (method, path, response.content)
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) == {"detail"}
    assert not live.chunks.exists()
    assert not recording_entries().exists()


def test_a_recording_that_does_not_exist_is_the_same_404(visit):
    for path in (f"/api/recordings/{uuid.uuid4()}/", media_url(Recording(id=uuid.uuid4()))):
        response = get(visit.doctor.user, path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such recording."}


def test_an_address_that_is_no_recording_is_a_json_404(visit):
    response = get(visit.doctor.user, "/api/recordings/not-a-uuid/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_nobody_signed_in_gets_401(ready):
    assert Client().get(media_url(ready)).status_code == 401


@pytest.mark.parametrize("who", ["patient", "doctor", "staff"])
def test_the_patient_the_doctor_and_staff_see_and_play(visit, ready, who):
    user = {
        "patient": visit.patient.user,
        "doctor": visit.doctor.user,
        "staff": make_admin(),
    }[who]
    assert len(get(user, f"/api/appointments/{visit.id}/recordings/").json()) == 1
    assert get(user, f"/api/recordings/{ready.id}/").status_code == 200
    response = get(user, media_url(ready))
    assert response.status_code == 200
    assert body(response) == MEDIA


def test_the_patient_sees_only_their_own(visit, ready):
    other_visit = make_appointment(doctor=visit.doctor, start=at(days=-3))
    theirs = make_ready_recording(other_visit, media=b"someone else's")
    me = visit.patient.user
    assert get(me, f"/api/appointments/{other_visit.id}/recordings/").status_code == 404
    assert get(me, media_url(theirs)).status_code == 404
    assert get(me, media_url(ready)).status_code == 200


def test_the_portal_session_authenticates_the_api(visit, ready):
    client = Client()
    client.force_login(visit.patient.user)
    response = client.get(media_url(ready), headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert body(response) == MEDIA[:10]


def test_a_chunk_upload_with_the_session_needs_the_csrf_token(visit):
    live = make_recording(visit)
    client = Client(enforce_csrf_checks=True)
    client.force_login(visit.doctor.user)
    path = f"/api/recordings/{live.id}/chunks/0/"
    refused = client.put(path, b"x", content_type="video/webm")
    assert refused.status_code == 403
    client.get("/")  # the portal page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    stored = client.put(path, b"x", content_type="video/webm", headers={"X-CSRFToken": token})
    assert stored.status_code == 201


# --- Chunks over HTTP --------------------------------------------------------------------------


def put_chunk(user, recording, seq, data, *, content_type="video/webm", query=""):
    return Client().put(
        f"/api/recordings/{recording.id}/chunks/{seq}/{query}",
        data,
        content_type=content_type,
        headers=bearer(user),
    )


def test_a_chunk_201_then_200_then_409(visit):
    live = make_recording(visit)
    doctor = visit.doctor.user
    first = put_chunk(doctor, live, 0, b"\x1a\x45\xdf\xa3 bytes")
    assert first.status_code == 201
    assert first.json() == {
        "seq": 0,
        "size_bytes": 10,
        "sha256": hashlib.sha256(b"\x1a\x45\xdf\xa3 bytes").hexdigest(),
    }
    assert put_chunk(doctor, live, 0, b"\x1a\x45\xdf\xa3 bytes").status_code == 200
    conflict = put_chunk(doctor, live, 0, b"other bytes")
    assert conflict.status_code == 409
    assert "other bytes" in conflict.json()["detail"]
    assert live.chunks.count() == 1


def test_a_chunk_may_say_it_is_the_last(visit):
    live = make_recording(visit)
    typed = "video/webm;codecs=vp8,opus"  # what MediaRecorder's Blob says
    response = put_chunk(visit.doctor.user, live, 0, b"a", content_type=typed, query="?last=1")
    assert response.status_code == 201
    live.refresh_from_db()
    assert live.last_seq == 0


def test_an_empty_chunk_is_taken(visit):
    live = make_recording(visit)
    response = put_chunk(visit.doctor.user, live, 0, b"", content_type="application/octet-stream")
    assert response.status_code == 201
    assert response.json()["size_bytes"] == 0


def test_a_chunk_over_the_limit_is_413(visit, settings):
    settings.RECORDING_CHUNK_MAX_BYTES = 1024
    live = make_recording(visit)
    response = put_chunk(visit.doctor.user, live, 0, b"x" * 5000)
    assert response.status_code == 413
    assert "1024" in response.json()["detail"]
    assert put_chunk(visit.doctor.user, live, 0, b"x" * 1024).status_code == 201


def test_a_chunk_over_djangos_form_limit_is_still_taken(visit, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the body is not read through request.body
    live = make_recording(visit)
    assert put_chunk(visit.doctor.user, live, 0, b"x" * 100_000).status_code == 201


def test_a_chunk_of_another_type_is_415(visit):
    live = make_recording(visit)
    response = put_chunk(visit.doctor.user, live, 0, b'{"a": 1}', content_type="application/json")
    assert response.status_code == 415
    assert not live.chunks.exists()


def test_the_patient_may_not_upload(visit):
    live = make_recording(visit)
    response = put_chunk(visit.patient.user, live, 0, b"x")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the visit's doctor records it."}


def test_a_stopped_recording_past_its_grace_is_409(visit, settings):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 0
    live = make_recording(visit, ended_at=at(minutes=-1), resumed_at=None)
    assert put_chunk(visit.doctor.user, live, 0, b"x").status_code == 409


# --- Playing: Range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-1023", 0, 1024),
        ("bytes=65530-65545", 65530, 65546),  # across an encryption block edge
        ("bytes=100000-", 100000, len(MEDIA)),
        ("bytes=-500", len(MEDIA) - 500, len(MEDIA)),  # suffix
        ("bytes=-999999999", 0, len(MEDIA)),  # a suffix longer than the file: all of it
        ("bytes=299990-400000", 299990, len(MEDIA)),  # past the end: clamped
    ],
)
def test_a_range_is_206_with_exactly_that_slice(visit, ready, header, start, stop):
    response = get(visit.doctor.user, media_url(ready), Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{stop - 1}/{len(MEDIA)}"
    assert response["Content-Length"] == str(stop - start)
    assert response["Accept-Ranges"] == "bytes"
    assert body(response) == MEDIA[start:stop]


def test_the_whole_file_is_200_and_says_ranges_are_accepted(visit, ready):
    response = get(visit.doctor.user, media_url(ready))
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/webm"
    assert response["Content-Length"] == str(len(MEDIA))
    assert response["Content-Disposition"].startswith("inline;")
    assert not response.has_header("Content-Range")
    assert body(response) == MEDIA


@pytest.mark.parametrize(
    "header", [f"bytes={len(MEDIA)}-", f"bytes={len(MEDIA) + 5}-{len(MEDIA) + 9}", "bytes=-0"]
)
def test_an_unsatisfiable_range_is_416(visit, ready, header):
    response = get(visit.doctor.user, media_url(ready), Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(MEDIA)}"
    assert "detail" in response.json()


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=9-1", "bytes=x-"])
def test_a_range_this_server_ignores_gets_the_whole_file(visit, ready, header):
    response = get(visit.doctor.user, media_url(ready), Range=header)
    assert response.status_code == 200
    assert body(response) == MEDIA


def test_if_range_with_another_version_gets_the_whole_file(visit, ready):
    response = get(visit.doctor.user, media_url(ready), Range="bytes=0-9", If_Range='"other"')
    assert response.status_code == 200
    same = get(visit.doctor.user, media_url(ready), Range="bytes=0-9", If_Range=f'"{ready.sha256}"')
    assert same.status_code == 206


def test_the_players_accept_header_gets_json_errors(visit):
    processing = make_recording(visit, status=Recording.Status.PROCESSING, ended_at=at())
    response = get(visit.doctor.user, media_url(processing), Accept="video/webm,video/*;q=0.9")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert "not ready" in response.json()["detail"]


@pytest.mark.parametrize(
    "status", [Recording.Status.RECORDING, Recording.Status.PROCESSING, Recording.Status.FAILED]
)
def test_a_recording_not_ready_is_409(visit, status):
    recording = make_recording(visit, status=status, ended_at=at())
    response = get(visit.patient.user, media_url(recording))
    assert response.status_code == 409
    assert not recording_entries(action="play").exists()


def test_download_is_an_attachment(visit, ready):
    response = get(visit.patient.user, media_url(ready, "?download=1"))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="recording-{ready.started_at.date().isoformat()}-' in disposition
    assert body(response) == MEDIA


def test_no_key_is_503(visit, ready, settings):
    settings.RECORDINGS_KEY = ""
    response = get(visit.doctor.user, media_url(ready))
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]


# --- Nothing cached, everything logged ---------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?download=1"])
def test_media_and_metadata_are_not_stored_by_caches(visit, ready, query):
    for response in (
        get(visit.doctor.user, media_url(ready, query), Range="bytes=0-99"),
        get(visit.doctor.user, media_url(ready, query)),
        get(visit.doctor.user, f"/api/recordings/{ready.id}/"),
        get(visit.doctor.user, f"/api/appointments/{visit.id}/recordings/"),
        get(visit.doctor.user, media_url(ready, query), Range="bytes=999999999-"),
    ):
        assert "no-store" in response["Cache-Control"], response.status_code
        assert "private" in response["Cache-Control"]


def test_list_and_detail_are_logged(visit, ready):
    doctor = visit.doctor.user
    get(doctor, f"/api/appointments/{visit.id}/recordings/")
    get(doctor, f"/api/recordings/{ready.id}/")
    listed, viewed = recording_entries().order_by("pk")
    assert (listed.action, listed.viewer, listed.appointment, listed.patient) == (
        "list",
        doctor,
        visit,
        visit.patient,
    )
    assert (viewed.action, viewed.record) == ("view", f"recordings.recording {ready.id}")


def test_a_play_by_ranges_is_one_entry(visit, ready):
    patient = visit.patient.user
    for header in ("bytes=0-", "bytes=0-1", "bytes=-100", "bytes=200000-"):
        assert get(patient, media_url(ready), Range=header).status_code == 206
    [entry] = recording_entries(action="play")
    assert entry.viewer == patient
    assert entry.viewer_role == "patient"
    assert entry.channel == "api"
    assert entry.appointment == visit and entry.patient == visit.patient
    assert entry.record == f"recordings.recording {ready.id}"


def test_each_viewer_and_each_action_is_its_own_entry(visit, ready):
    staff = make_admin()
    get(visit.doctor.user, media_url(ready))
    get(staff, media_url(ready))
    get(staff, media_url(ready, "?download=1"))
    get(staff, media_url(ready, "?download=1"))
    assert sorted(recording_entries().values_list("viewer_role", "action")) == [
        ("admin", "download"),
        ("admin", "play"),
        ("doctor", "play"),
    ]


def test_a_play_after_the_window_is_a_new_entry(visit, ready):
    get(visit.patient.user, media_url(ready))
    cache.clear()  # as if ten quiet minutes had passed
    get(visit.patient.user, media_url(ready))
    assert recording_entries(action="play").count() == 2


def test_every_request_is_logged_when_the_cache_fails(visit, ready, monkeypatch):
    class BrokenCache:
        def __getattr__(self, name):
            def broken(*args, **kwargs):
                raise ConnectionError("cache is down")

            return broken

    monkeypatch.setattr("rooms.recordings.services.playback.cache", BrokenCache())
    get(visit.patient.user, media_url(ready), Range="bytes=0-1")
    get(visit.patient.user, media_url(ready), Range="bytes=2-3")
    assert recording_entries(action="play").count() == 2


def test_a_refused_play_is_not_logged(visit, ready):
    get(make_doctor().user, media_url(ready))
    assert not recording_entries().exists()


# --- Streaming under ASGI ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_media_streams_without_djangos_warning(recordings_store):
    from asgiref.sync import sync_to_async

    visit, ready = await sync_to_async(_visit_with_ready_recording)()
    client = AsyncClient()
    await sync_to_async(client.force_login)(visit.doctor.user)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        response = await client.get(media_url(ready), headers={"Range": "bytes=65000-70000"})
        assert response.status_code == 206
        assert response.is_async
        content = b"".join([piece async for piece in response.streaming_content])
    assert content == MEDIA[65000:70001]


def test_under_wsgi_the_media_is_a_plain_iterator(visit, ready):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        response = get(visit.doctor.user, media_url(ready))
        assert not response.is_async
        assert body(response) == MEDIA


def _visit_with_ready_recording():
    visit = make_appointment(start=at(minutes=-30))
    return visit, make_ready_recording(visit, media=MEDIA)
