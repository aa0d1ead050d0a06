"""A recording on a live server (tests/live_server.py), for the worker's live test and
bench/recording.py: what the room would do (start, stop) is done through the services in a
process with the server's environment; what the doctor's page does (upload the chunks) goes
over real HTTP.

    recording_id = start_recording(env, appointment_id)
    upload(server.http_url, token, recording_id, pieces[:-1])
    stop_recording(env, recording_id)
    upload(server.http_url, token, recording_id, pieces[-1:], first_seq=len(pieces) - 1, last=True)
    wait_until_finished(server.http_url, token, recording_id)

The consent flow itself (rooms.recordings.services.consent) is not what these measure or test;
`start` makes the recording as it leaves it once everyone has allowed. Not a test module.
"""

import json
import sys
import time

import requests

MARKER = "LIVE_RECORDING "


# --- The parent's side ---------------------------------------------------------------------------


def _run(env: dict[str, str], *args: str) -> dict:
    from tests.live_server import run_python

    output = run_python(env, "-m", "tests.recordings.live_recording", *args)
    line = next(line for line in output.splitlines() if line.startswith(MARKER))
    return json.loads(line.removeprefix(MARKER))


def start_recording(env: dict[str, str], appointment_id: int) -> str:
    """A recording of the appointment, on (everyone has allowed); its id."""
    return _run(env, "start", str(appointment_id))["id"]


def stop_recording(env: dict[str, str], recording_id: str) -> dict:
    return _run(env, "stop", recording_id)


def upload(
    base_url: str,
    token: str,
    recording_id: str,
    pieces: list[bytes],
    *,
    first_seq: int = 0,
    last: bool = False,
    session: requests.Session | None = None,
) -> list[requests.Response]:
    """PUT each piece as the doctor's page does; the last one with ?last=1 when `last`."""
    session = session or requests.Session()
    answers = []
    for offset, piece in enumerate(pieces):
        seq = first_seq + offset
        final = last and offset == len(pieces) - 1
        answer = session.put(
            f"{base_url}/api/recordings/{recording_id}/chunks/{seq}/"
            + ("?last=1" if final else ""),
            data=piece,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "video/webm"},
            timeout=30,
        )
        if answer.status_code not in (200, 201):
            raise AssertionError(f"chunk {seq}: {answer.status_code} {answer.text[:300]}")
        answers.append(answer)
    return answers


def wait_until_finished(base_url: str, token: str, recording_id: str, timeout: float = 120) -> dict:
    """The recording as GET /api/recordings/{id}/ shows it once it is ready or failed."""
    deadline = time.monotonic() + timeout
    while True:
        shown = requests.get(
            f"{base_url}/api/recordings/{recording_id}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        if shown.get("status") in ("ready", "failed") or time.monotonic() > deadline:
            return shown
        time.sleep(0.25)


def media(base_url: str, token: str, recording_id: str) -> bytes:
    answer = requests.get(
        f"{base_url}/api/recordings/{recording_id}/media/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.content


# --- The server's side (python -m tests.recordings.live_recording ...) ---------------------------


def _start(appointment_id: str) -> dict:
    from django.utils import timezone

    from rooms.recordings.models import Recording, RecordingConsent
    from visits.models import Appointment, Role

    appointment = Appointment.objects.select_related("doctor__user", "patient__user").get(
        pk=int(appointment_id)
    )
    now = timezone.now()
    recording = Recording.objects.create(
        appointment=appointment,
        requested_by=appointment.doctor.user,
        status=Recording.Status.RECORDING,
        started_at=now,
        resumed_at=now,
    )
    for user, role in (
        (appointment.doctor.user, Role.DOCTOR),
        (appointment.patient.user, Role.PATIENT),
    ):
        RecordingConsent.objects.create(
            recording=recording, user=user, role=role, decision=RecordingConsent.Decision.ALLOWED
        )
    return {"id": str(recording.id)}


def _stop(recording_id: str) -> dict:
    from rooms.recordings.models import Recording
    from rooms.recordings.services.lifecycle import recording_stop

    recording = Recording.objects.get(pk=recording_id)
    stopped = recording_stop(
        recording_id=recording.id,
        reason=Recording.StopReason.STOPPED,
        stopped_by=recording.requested_by,
    )
    return {"id": str(stopped.id), "seconds": stopped.seconds_on_before}


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, argument = argv
    result = {"start": _start, "stop": _stop}[command](argument)
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
