"""Recording a visit, as the doctor and the patient do it, in real Chromium with fake devices.

The doctor asks, the patient is asked in a dialog and answers; both pages show the indicator
while the doctor's page records (a canvas composite and an audio mix, MediaRecorder in 2 s
chunks, uploaded in order); stopping turns the chunks into one file on the server. Each test
makes at most one recording and checks it as the person who gets it would: the recordings API
says `ready`, the media API's file (decrypted by the server) has a video and an audio stream,
lasts as long as it was on, and has no hole where the network went away.
"""

import io
import itertools
import secrets
import time
from base64 import urlsafe_b64encode
from datetime import datetime

import av
import pytest

from tests.e2e.visit import (
    HOOK,
    REMOTE_VIDEO_PLAYS,
    TIMEOUT,
    join_as_doctor_and_patient,
    screenshot,
)
from tests.live_server import LiveServer, LiveWorker, development_environment

pytestmark = pytest.mark.slow

# Short server timings so that a test waits seconds, not minutes, for what it checks.
RECORDING_ENV = {
    "RECORDING_UPLOAD_GRACE_SECONDS": "20",
    "RECORDING_IDLE_SECONDS": "60",
}
RECORDED_SECONDS = 10
READY_TIMEOUT_S = 90
CHUNK_PUT = "/chunks/"


@pytest.fixture
def recording_clinic(tmp_path, demo_clinic_database, media_mode):
    """The demo clinic (the test's own freshly seeded SQLite copy, DEBUG on, as `make run`) with
    its recordings worker, a recordings key of the test's own, the media under the test's folder
    and the short timings above, in the media mode under test."""
    env = development_environment(
        SQLITE_PATH=str(demo_clinic_database),
        ICE_SERVERS="stun:127.0.0.1:9",
        RECORDINGS_KEY=urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        MEDIA_ROOT=str(tmp_path / "media"),
        **RECORDING_ENV,
        **media_mode,
    )
    with (
        LiveServer(env, tmp_path / "daphne.log") as server,
        LiveWorker(env, tmp_path / "worker.log") as worker,
    ):
        yield server.http_url
        assert server.errors() == [], server.log_tail()
        assert worker.errors() == [], worker.log_tail()


def in_the_call(browser, base):
    doctor, patient, _ = join_as_doctor_and_patient(browser, base)
    doctor.click("#waiting-list button:has-text('Admit')")
    for page in (doctor, patient):
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=TIMEOUT)
    return doctor, patient


def chunk_uploads(page) -> list[tuple[int, int, bool]]:
    """Every chunk PUT the doctor's browser makes, across reloads: (seq, status, last)."""
    uploads = []

    def seen(response):
        request = response.request
        if request.method == "PUT" and CHUNK_PUT in request.url:
            seq = int(request.url.split(CHUNK_PUT)[1].split("/")[0])
            uploads.append((seq, response.status, "last=1" in request.url))

    page.context.on("response", seen)
    return uploads


def ask_and_allow(doctor, patient) -> float:
    """The doctor presses Record; the patient is asked in a dialog and allows; both pages show
    the indicator. Returns when the doctor's page records, with the time the patient allowed."""
    doctor.click("#record-button")
    dialog = patient.wait_for_selector("#recording-consent[open]", timeout=TIMEOUT)
    assert "Dr. Aiko Tanaka would like to record this visit for your medical record" in (
        dialog.text_content()
    )
    # Focus went to the question; Allow and Decline are reached with the keyboard.
    assert patient.evaluate("() => document.activeElement.closest('dialog')?.id") == (
        "recording-consent"
    )
    assert "Waiting for Hanako Suzuki" in doctor.text_content("#recording-waiting")
    patient.keyboard.press("Tab")
    assert patient.evaluate("() => document.activeElement.id") == "recording-allow"
    patient.keyboard.press("Enter")
    allowed = time.monotonic()
    for page in (doctor, patient):
        page.wait_for_selector("#recording-indicator:not([hidden])", timeout=TIMEOUT)
    doctor.wait_for_function(f"() => {HOOK}.recorder.state === 'recording'", timeout=TIMEOUT)
    return allowed


def appointment_id(page) -> int:
    return page.evaluate(
        "() => JSON.parse(document.getElementById('room-config').textContent).appointmentId"
    )


def recordings(page, base: str) -> list[dict]:
    url = f"{base}/api/appointments/{appointment_id(page)}/recordings/"
    response = page.context.request.get(url)
    assert response.status == 200, response.text()
    return response.json()


def wait_until_ready(page, base: str) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        listed = recordings(page, base)
        assert len(listed) == 1, listed
        if listed[0]["status"] in {"ready", "failed"}:
            assert listed[0]["status"] == "ready", listed[0]
            return listed[0]
        assert time.monotonic() < deadline, f"not ready after {READY_TIMEOUT_S} s: {listed[0]}"
        time.sleep(0.5)


def media_of(page, base: str, recording: dict) -> dict:
    """The recording's file, as the media API serves it, probed with PyAV."""
    response = page.context.request.get(f"{base}/api/recordings/{recording['id']}/media/")
    assert response.status == 200
    data = response.body()
    assert len(data) == recording["size_bytes"]
    with av.open(io.BytesIO(data)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        duration = container.duration / av.time_base if container.duration else None
        video = container.streams.video[0]
        times = sorted(
            float(packet.pts * packet.time_base)
            for packet in container.demux(video)
            if packet.pts is not None
        )
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return {"kinds": kinds, "duration": duration, "max_gap": max(gaps, default=0.0)}


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def stop_and_wait(page):
    page.click("#recording-stop")
    page.wait_for_function(f"() => {HOOK}.recording.state === 'off'", timeout=TIMEOUT)
    wait_for_the_uploads(page)


def wait_for_the_uploads(page):
    # The recorder has queued its last chunk and the queue is empty: all of it is uploaded.
    page.wait_for_function(
        f"() => {HOOK}.recorder.state === 'inactive' && {HOOK}.uploads.queued === 0",
        timeout=TIMEOUT,
    )
    assert page.is_hidden("#recording-problem"), page.text_content("#recording-problem")


def test_recorded_with_consent_and_ready(recording_clinic, browser):
    base = recording_clinic
    doctor, patient = in_the_call(browser, base)
    uploads = chunk_uploads(doctor)
    started = ask_and_allow(doctor, patient)
    # Both see it, with the time counting, in words (not a red dot alone).
    for page in (doctor, patient):
        page.wait_for_function(
            f"() => /^● Recording \\d\\d:\\d\\d$/.test({HOOK}.recording.indicator)"
            f" && {HOOK}.recording.elapsed >= 1",
            timeout=TIMEOUT,
        )
        assert page.text_content("#recording-announcer") == "Recording started"
    assert patient.is_visible("#recording-withdraw") and patient.is_visible("#recording-stop")
    assert not doctor.is_visible("#recording-withdraw")
    time.sleep(max(0.0, RECORDED_SECONDS - (time.monotonic() - started)))
    doctor.click("#recording-stop")
    doctor.wait_for_function(f"() => {HOOK}.recording.state === 'off'", timeout=TIMEOUT)
    # At most this long on: from Allow until the doctor's page heard it stopped (on a busy
    # machine the stop takes a while to reach the server and come back).
    at_most = time.monotonic() - started
    wait_for_the_uploads(doctor)
    patient.wait_for_selector("#recording-indicator", state="hidden", timeout=TIMEOUT)
    assert patient.text_content("#recording-announcer") == "Recording stopped"
    assert patient.text_content("#recording-notice") == "Recording stopped by Dr. Aiko Tanaka."
    doctor.wait_for_function(f"() => {HOOK}.uploads.queued === 0", timeout=TIMEOUT)
    # Every chunk went up once, in order, the last one marked.
    assert [seq for seq, _, _ in uploads] == list(range(len(uploads)))
    assert {status for _, status, _ in uploads} == {201}
    assert [last for _, _, last in uploads] == [False] * (len(uploads) - 1) + [True]

    recording = wait_until_ready(doctor, base)
    assert [c["decision"] for c in recording["consents"]] == ["allowed", "allowed"]
    media = media_of(doctor, base, recording)
    assert media["kinds"] == ["audio", "video"]
    assert RECORDED_SECONDS - 2 <= media["duration"] <= at_most + 2, (media, at_most)
    assert abs(recording["duration_seconds"] - media["duration"]) < 0.5, recording
    on_time = seconds_between(recording["started_at"], recording["ended_at"])
    assert abs(media["duration"] - on_time) <= 2, (media, on_time)
    assert media["max_gap"] < 2.5, media  # the composite kept being drawn


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_declined_nothing_is_recorded(recording_clinic, browser):
    base = recording_clinic
    doctor, patient = in_the_call(browser, base)
    uploads = chunk_uploads(doctor)
    doctor.click("#record-button")
    patient.wait_for_selector("#recording-consent[open]", timeout=TIMEOUT)
    patient.click("#recording-decline")
    doctor.wait_for_selector(
        "#recording-notice:text-is('Recording declined by Hanako Suzuki.')", timeout=TIMEOUT
    )
    assert doctor.text_content("#recording-announcer") == "Recording declined by Hanako Suzuki."
    assert doctor.is_visible("#record-button")  # the doctor may ask again
    assert not patient.is_visible("#recording-consent")
    for page in (doctor, patient):
        assert page.is_hidden("#recording-indicator")
    time.sleep(2)
    assert doctor.evaluate(f"() => {HOOK}.recorder.state") == "inactive"
    assert uploads == []
    assert recordings(doctor, base) == []  # nothing recorded, nothing listed


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_withdrawing_consent_stops_it_at_once(recording_clinic, browser):
    base = recording_clinic
    doctor, patient = in_the_call(browser, base)
    ask_and_allow(doctor, patient)
    mode = doctor.evaluate(f"() => {HOOK}.mode")
    screenshot(doctor, f"recording-doctor-{mode}")
    screenshot(patient, f"recording-patient-{mode}")
    patient.click("#recording-withdraw")
    withdrawn = time.monotonic()
    doctor.wait_for_function(f"() => {HOOK}.recorder.state === 'inactive'", timeout=TIMEOUT)
    assert time.monotonic() - withdrawn < 5
    doctor.wait_for_selector(
        "#recording-notice:text-is('Recording stopped: Hanako Suzuki withdrew consent.')",
        timeout=TIMEOUT,
    )
    for page in (doctor, patient):
        page.wait_for_selector("#recording-indicator", state="hidden", timeout=TIMEOUT)
    recording = wait_until_ready(doctor, base)
    assert [c["decision"] for c in recording["consents"]] == ["allowed", "allowed", "withdrawn"]
    # What was on until the withdrawal is kept: the server's on time, as the file lasts.
    on_time = seconds_between(recording["started_at"], recording["ended_at"])
    assert abs(recording["duration_seconds"] - on_time) <= 2, recording


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_a_dropped_network_leaves_no_hole(recording_clinic, browser):
    """The doctor's network goes for 5 s mid-recording: the socket drops, uploads fail. The
    page keeps recording into its queue, reconnects, and uploads what it held."""
    base = recording_clinic
    doctor, patient = in_the_call(browser, base)
    uploads = chunk_uploads(doctor)
    started = ask_and_allow(doctor, patient)
    time.sleep(3)
    before = doctor.evaluate(f"() => {HOOK}.participantId")
    doctor.context.set_offline(True)
    doctor.evaluate(f"() => {HOOK}.dropSocket()")
    time.sleep(5)
    assert doctor.evaluate(f"() => {HOOK}.recorder.state") == "recording"
    assert doctor.evaluate(f"() => {HOOK}.uploads.queued") >= 1  # held while offline
    doctor.context.set_offline(False)
    doctor.wait_for_function(
        f"before => {HOOK}.socketOpen && {HOOK}.participantId !== before",
        arg=before,
        timeout=TIMEOUT,
    )
    # A reconnect of the same doctor neither pauses nor restarts it.
    assert doctor.evaluate(f"() => {HOOK}.recording.state") == "on"
    time.sleep(max(0.0, RECORDED_SECONDS + 3 - (time.monotonic() - started)))
    stop_and_wait(doctor)
    doctor.wait_for_function(f"() => {HOOK}.uploads.queued === 0", timeout=TIMEOUT)
    stored = sorted({seq for seq, status, _ in uploads if status in {200, 201}})
    assert stored == list(range(len(stored))), uploads
    assert 409 not in {status for _, status, _ in uploads}, uploads
    recording = wait_until_ready(doctor, base)
    media = media_of(doctor, base, recording)
    assert media["max_gap"] < 5, media  # shorter than the drop: no hole where it was
    # Nothing of the time on is missing either (a recorder that restarted would lose it).
    on_time = seconds_between(recording["started_at"], recording["ended_at"])
    assert abs(media["duration"] - on_time) <= 2, (media, on_time)


@pytest.mark.parametrize("media_mode", ["p2p"], indirect=True)
def test_a_reload_mid_recording_loses_and_repeats_no_chunk(recording_clinic, browser):
    """The doctor reloads while it records: the new page uploads what the old one left in
    IndexedDB and records on in a new segment, its chunks continuing the old ones' numbers."""
    base = recording_clinic
    doctor, patient = in_the_call(browser, base)
    uploads = chunk_uploads(doctor)
    ask_and_allow(doctor, patient)
    time.sleep(5)
    doctor.reload()
    doctor.wait_for_function(f"() => {HOOK}.recorder?.state === 'recording'", timeout=TIMEOUT)
    assert doctor.evaluate(f"() => {HOOK}.recording.state") == "on"  # not paused for a reconnect
    time.sleep(5)
    stop_and_wait(doctor)
    doctor.wait_for_function(f"() => {HOOK}.uploads.queued === 0", timeout=TIMEOUT)
    statuses = {status for _, status, _ in uploads}
    assert statuses <= {200, 201}, uploads  # no 409: no seq was reused for other bytes
    stored = [seq for seq, status, _ in uploads if status == 201]
    assert sorted(stored) == list(range(len(stored))), uploads  # contiguous, each stored once
    assert [seq for seq, _, last in uploads if last] == [max(stored)]
    recording = wait_until_ready(doctor, base)
    media = media_of(doctor, base, recording)
    assert media["kinds"] == ["audio", "video"]
