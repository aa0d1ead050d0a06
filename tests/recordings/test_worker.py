"""The worker: `manage.py recordings_worker` enqueues the periodic tasks once however often it
starts; the sweep stops idle recordings and finalises overdue ones; a real worker process
finalises a recording uploaded over HTTP."""

import base64
import hashlib
import io
import secrets
import signal
from datetime import timedelta

import av
import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from rooms.recordings import tasks
from rooms.recordings.models import Recording
from rooms.recordings.services import lifecycle
from rooms.recordings.services.lifecycle import recordings_sweep
from tests.live_seed import seed
from tests.live_server import (
    LiveServer,
    LiveWorker,
    migrated_sqlite,
    production_environment,
)
from tests.recordings.live_recording import (
    media,
    start_recording,
    stop_recording,
    upload,
    wait_until_finished,
)
from tests.recordings.recording_kit import make_recording, stopped_recording
from tests.recordings.webm_maker import make_webm, timeslices

PERIODIC = {
    "rooms.recordings.tasks.sweep_recordings",
    "rooms.recordings.tasks.expire_recordings",
}


def pending(task_path: str):
    return DBTaskResult.objects.filter(task_path=task_path, status=TaskResultStatus.READY)


@pytest.fixture
def signals_kept():
    """db_worker installs its own SIGINT/SIGTERM handlers; the test process keeps pytest's."""
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_enqueues_each_periodic_task_once(signals_kept):
    options = {"batch": True, "reload": False, "startup_delay": False, "verbosity": 0}

    call_command("recordings_worker", **options)  # runs them (batch), and each enqueues its next
    first = {path: list(pending(path)) for path in PERIODIC}
    call_command("recordings_worker", **options)  # a restart
    tasks.periodic_tasks_ensure()  # a second worker starting

    for path in PERIODIC:
        [next_run] = pending(path)
        assert [next_run] == first[path]
        assert next_run.run_after > timezone.now()
        assert (
            DBTaskResult.objects.filter(task_path=path, status=TaskResultStatus.SUCCESSFUL).count()
            == 1
        )


@pytest.mark.django_db
def test_a_periodic_task_reschedules_itself_even_when_its_run_fails(monkeypatch):
    def broken(*, now):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("rooms.recordings.services.lifecycle.recordings_sweep", broken)

    with pytest.raises(RuntimeError):
        tasks.sweep_recordings.call()

    [next_run] = pending("rooms.recordings.tasks.sweep_recordings")
    assert next_run.run_after == pytest.approx(
        timezone.now() + timedelta(seconds=tasks.SWEEP_INTERVAL_SECONDS), abs=timedelta(seconds=5)
    )


@pytest.mark.django_db
def test_the_sweep_stops_a_recording_nothing_arrives_for(settings):
    settings.RECORDING_IDLE_SECONDS = 120
    now = timezone.now()
    idle = make_recording(on_for=600, last_chunk_at=now - timedelta(seconds=121))
    uploading = make_recording(on_for=600, last_chunk_at=now - timedelta(seconds=5))
    just_resumed = make_recording(on_for=30, last_chunk_at=now - timedelta(seconds=300))
    never_uploaded = make_recording(on_for=200)
    paused = make_recording(on_for=600, last_chunk_at=now - timedelta(seconds=500))
    paused.resumed_at = None
    paused.save()

    result = recordings_sweep(now=now)

    assert set(result.stopped) == {idle.id, never_uploaded.id}
    for recording in (idle, never_uploaded):
        recording.refresh_from_db()
        assert recording.ended_at is not None
        assert recording.stop_reason == Recording.StopReason.IDLE
        assert recording.stopped_by is None
    for recording in (uploading, just_resumed, paused):
        recording.refresh_from_db()
        assert recording.ended_at is None


@pytest.mark.django_db
def test_an_idle_stop_tells_the_room_so_its_pages_show_it_off(settings, monkeypatch):
    settings.RECORDING_IDLE_SECONDS = 120
    now = timezone.now()
    idle = make_recording(on_for=600, last_chunk_at=now - timedelta(seconds=121))
    sent = []

    class Layer:
        async def group_send(self, group, message):
            sent.append((group, message))

    monkeypatch.setattr(lifecycle, "get_channel_layer", Layer)

    recordings_sweep(now=now)

    assert sent == [(f"room.{idle.appointment.room_id.hex}", {"type": "room.changed"})]


@pytest.mark.django_db
def test_the_sweep_finalises_a_stopped_recording_past_the_grace(settings):
    settings.RECORDING_UPLOAD_GRACE_SECONDS = 30
    now = timezone.now()
    overdue = stopped_recording(ended_at=now - timedelta(seconds=31))
    in_grace = stopped_recording(ended_at=now - timedelta(seconds=10))

    result = recordings_sweep(now=now)

    assert result.finalised == [overdue.id]
    overdue.refresh_from_db()
    in_grace.refresh_from_db()
    assert overdue.status == Recording.Status.FAILED  # it had no chunk: finalised, and said so
    assert in_grace.status == Recording.Status.RECORDING


@pytest.mark.django_db
def test_the_daily_expiry_deletes_what_outlived_its_retention(settings):
    settings.RECORDING_RETENTION_DAYS = 1
    old = stopped_recording(ended_at=timezone.now() - timedelta(days=2))
    Recording.objects.filter(pk=old.pk).update(status=Recording.Status.READY)
    recent = stopped_recording()
    Recording.objects.filter(pk=recent.pk).update(status=Recording.Status.READY)

    tasks.expire_recordings.call()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == Recording.Status.DELETED
    assert recent.status == Recording.Status.READY
    assert pending("rooms.recordings.tasks.expire_recordings").count() == 1


@pytest.mark.slow
def test_a_worker_process_finalises_a_recording_uploaded_over_http(tmp_path):
    """End to end: the doctor's chunks PUT to a live server, the recording stopped, its last
    chunk uploaded after the stop (as the page does), and the worker beside the server turns
    them into the file the API then serves."""
    pieces = timeslices(make_webm(seconds=6), seconds=6)
    env = production_environment(
        SQLITE_PATH=migrated_sqlite(tmp_path / "live.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),
        RECORDINGS_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    )
    [visit] = seed(env, visits=1, prefix="worker")["visits"]
    doctor = visit["doctor"]["token"]
    recording_id = start_recording(env, visit["id"])

    with (
        LiveServer(env, tmp_path / "daphne.log") as server,
        LiveWorker(env, tmp_path / "worker.log") as worker,
    ):
        upload(server.http_url, doctor, recording_id, pieces[:-1])
        stop_recording(env, recording_id)
        upload(
            server.http_url, doctor, recording_id, pieces[-1:], first_seq=len(pieces) - 1, last=True
        )
        shown = wait_until_finished(server.http_url, doctor, recording_id, timeout=60)
        assert shown["status"] == "ready", (shown, worker.log_tail())
        file = media(server.http_url, doctor, recording_id)
        assert worker.errors() == []

    assert hashlib.sha256(file).hexdigest() == shown["sha256"]
    with av.open(io.BytesIO(file)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.duration / av.time_base == pytest.approx(6, abs=0.5)
    assert "Enqueued the periodic tasks" in worker.log()
