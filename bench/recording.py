"""Recording benchmark: what a consultation recording costs the server and the doctor's line.

    .venv/bin/python bench/recording.py              # 3 recorded minutes
    .venv/bin/python bench/recording.py --minutes 1  # quicker

Makes N minutes of WebM the way the doctor's page records it (tests/recordings/webm_maker.py:
VP8 at videoBitsPerSecond 500_000 as static/js/room/recording/recorder.js sets it, 960x360 at
12 fps as its composite canvas, Opus at 128 kbit/s, Chromium's default when the page sets no
audio bitrate), cut in 2 s timeslices. Against a live server and worker (tests/live_server.py,
SQLite, DEBUG off) it PUTs the chunks over HTTP as the doctor (JWT), stops the recording, uploads
the last chunk with ?last=1 and waits for the worker to finalise. Baselines in the same run: the
same bytes PUT to a plain file-writing view (bench/baseline.py chunk_write, same Daphne) and a
plain stream-copy remux of the whole file (`ffmpeg -c copy` when ffmpeg is installed, else the
same libavformat through PyAV). Prints the figures and writes bench/results/recording-*.json.
"""

import argparse
import base64
import io
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/recording.py`
    sys.path.insert(0, str(REPO))

from tests.live_seed import seed  # noqa: E402
from tests.live_server import (  # noqa: E402
    LiveServer,
    LiveWorker,
    manage,
    production_environment,
)
from tests.recordings.live_recording import (  # noqa: E402
    start_recording,
    stop_recording,
    wait_until_finished,
)
from tests.recordings.webm_maker import make_webm, timeslices  # noqa: E402

RESULTS = REPO / "bench" / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
VIDEO_BITS_PER_SECOND = 500_000  # static/js/room/recording/recorder.js
AUDIO_BITS_PER_SECOND = 128_000  # Chromium's MediaRecorder default for Opus
WIDTH, HEIGHT, FPS = 960, 360, 12  # static/js/room/recording/layout.js COMPOSITE
TIMESLICE_SECONDS = 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def request_bytes(answer: requests.Response) -> int:
    """What the PUT put on the doctor's line: request line, headers (Host included) and body."""
    sent = answer.request
    path = sent.path_url
    host = requests.utils.urlparse(sent.url).netloc
    head = f"{sent.method} {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in sent.headers.items()
    )
    return len(head.encode()) + 2 + len(sent.body or b"")


def response_bytes(answer: requests.Response) -> int:
    head = f"HTTP/1.1 {answer.status_code} {answer.reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in answer.raw.headers.items()
    )
    return len(head.encode()) + 2 + len(answer.content)


def put_all(session, urls_and_pieces, headers) -> dict:
    up = down = 0
    for url, piece in urls_and_pieces:
        answer = session.put(url, data=piece, headers=headers, timeout=60)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:300]}")
        up += request_bytes(answer)
        down += response_bytes(answer)
    return {"request_bytes": up, "response_bytes": down}


def remux_baseline(data: bytes, folder: Path) -> dict:
    """A plain stream-copy remux of the whole recording: its CPU seconds."""
    source = folder / "whole.webm"
    source.write_bytes(data)
    target = folder / "remuxed.webm"
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(  # noqa: S603 (ffmpeg from PATH, our own file names)
            [ffmpeg, "-v", "error", "-y", "-i", str(source), "-c", "copy", str(target)], check=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"tool": "ffmpeg -c copy", "cpu_seconds": cpu}
    import av

    started = time.process_time()
    with av.open(str(source)) as inp, av.open(str(target), "w", format="webm") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return {
        "tool": "PyAV stream copy, one pass (no ffmpeg on this machine)",
        "cpu_seconds": time.process_time() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3)
    args = parser.parse_args()
    seconds = args.minutes * 60
    minutes = args.minutes
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    print(f"Encoding {minutes:g} min of VP8+Opus ({WIDTH}x{HEIGHT}@{FPS}) ...", flush=True)
    data = make_webm(
        seconds=seconds,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        video_bits_per_second=VIDEO_BITS_PER_SECOND,
        audio_bits_per_second=AUDIO_BITS_PER_SECOND,
        keyframe_every_seconds=4,
        noise=True,
    )
    pieces = timeslices(data, seconds=seconds, every_seconds=TIMESLICE_SECONDS)
    media_bytes = len(data)

    with tempfile.TemporaryDirectory(prefix="clinic-bench-recording-") as scratch:
        folder = Path(scratch)
        env = production_environment(
            DJANGO_SETTINGS_MODULE="bench.settings",
            SQLITE_PATH=str(folder / "bench.sqlite3"),
            MEDIA_ROOT=str(folder / "media"),
            RECORDINGS_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )
        manage(env, "migrate", "-v0")
        [visit] = seed(env, visits=1, prefix="bench-rec")["visits"]
        token = visit["doctor"]["token"]
        recording_id = start_recording(env, visit["id"])
        log_dir = RESULTS / f"recording-{stamp}"
        log_dir.mkdir()
        with (
            LiveServer(env, log_dir / "daphne.log", name="daphne") as server,
            LiveWorker(env, log_dir / "worker.log") as worker,
        ):
            base = server.http_url
            session = requests.Session()
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "video/webm"}
            # Warm-up: the first request of each kind loads code the rest reuse.
            session.get(f"{base}/healthz", timeout=10)

            cpu = cpu_seconds(server.pid)
            wall = time.monotonic()
            baseline = put_all(
                session,
                [(f"{base}/bench/chunks/{n}/", piece) for n, piece in enumerate(pieces)],
                {"Content-Type": "video/webm"},
            )
            baseline["server_cpu_seconds"] = cpu_seconds(server.pid) - cpu
            baseline["wall_seconds"] = time.monotonic() - wall

            cpu, worker_cpu = cpu_seconds(server.pid), cpu_seconds(worker.pid)
            wall = time.monotonic()
            chunk_url = f"{base}/api/recordings/{recording_id}/chunks"
            api = put_all(
                session,
                [(f"{chunk_url}/{n}/", piece) for n, piece in enumerate(pieces[:-1])],
                auth,
            )
            upload_wall = time.monotonic() - wall
            worker_idle_rate = (cpu_seconds(worker.pid) - worker_cpu) / upload_wall
            stop_recording(env, recording_id)
            worker_cpu = cpu_seconds(worker.pid)
            finalise_wall = time.monotonic()
            last = len(pieces) - 1
            final = put_all(session, [(f"{chunk_url}/{last}/?last=1", pieces[-1])], auth)
            api["request_bytes"] += final["request_bytes"]
            api["response_bytes"] += final["response_bytes"]
            api["server_cpu_seconds"] = cpu_seconds(server.pid) - cpu
            api["wall_seconds"] = upload_wall
            shown = wait_until_finished(base, token, recording_id, timeout=600)
            finalise_wall = time.monotonic() - finalise_wall
            finalise_cpu = cpu_seconds(worker.pid) - worker_cpu
            stored_files = list((folder / "media" / "recordings").rglob("*.enc"))
            stored_bytes = sum(path.stat().st_size for path in stored_files)
            errors = server.errors() + worker.errors()
        remux = remux_baseline(data, folder)

    if shown.get("status") != "ready":
        print(f"The recording did not become ready: {shown}")
        return 1
    results = {
        "minutes": minutes,
        "chunks": len(pieces),
        "media_bytes": media_bytes,
        "encoding": {
            "video": f"VP8 {VIDEO_BITS_PER_SECOND} bit/s {WIDTH}x{HEIGHT}@{FPS}",
            "audio": f"Opus {AUDIO_BITS_PER_SECOND} bit/s",
            "timeslice_seconds": TIMESLICE_SECONDS,
        },
        "upload_api": api,
        "upload_baseline": baseline,
        "finalise": {
            "worker_cpu_seconds": finalise_cpu,
            "worker_idle_cpu_seconds": worker_idle_rate * finalise_wall,
            "wall_seconds": finalise_wall,
        },
        "remux_baseline": remux,
        "recording": shown,
        "stored_bytes": stored_bytes,
        "server_errors": errors,
    }
    (RESULTS / f"recording-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(report(results))
    return 1 if errors else 0


def report(r: dict) -> str:
    minutes = r["minutes"]
    api, baseline, fin = r["upload_api"], r["upload_baseline"], r["finalise"]
    upload_cpu = api["server_cpu_seconds"]
    total_cpu = upload_cpu + fin["worker_cpu_seconds"]
    out = io.StringIO()
    w = out.write
    w(f"\nRecording benchmark: {minutes:g} recorded min, {r['chunks']} chunks of 2 s, ")
    w(f"{r['encoding']['video']} + {r['encoding']['audio']}\n")
    w(f"  media made by the recorder:   {r['media_bytes'] / minutes / 1e6:8.2f} MB/min\n")
    w(f"  stored (encrypted file):      {r['stored_bytes'] / minutes / 1e6:8.2f} MB/min ")
    w(f"(plaintext {r['recording']['size_bytes'] / minutes / 1e6:.2f} MB/min)\n")
    w(f"  duration probed:              {r['recording']['duration_seconds']:8.1f} s\n")
    w("Server CPU seconds per recorded minute:\n")
    w(f"  upload (Daphne, chunk API):   {upload_cpu / minutes:8.3f}\n")
    w(f"  upload baseline (file write): {baseline['server_cpu_seconds'] / minutes:8.3f}  ")
    w(f"ratio {upload_cpu / max(baseline['server_cpu_seconds'], 1e-9):.1f}x\n")
    w(f"  finalise (worker):            {fin['worker_cpu_seconds'] / minutes:8.3f}  ")
    w(f"(of which idle polling ~{fin['worker_idle_cpu_seconds'] / minutes:.3f}; ")
    w(f"wall {fin['wall_seconds']:.1f} s)\n")
    remux = r["remux_baseline"]
    w(f"  remux baseline ({remux['tool']}): {remux['cpu_seconds'] / minutes:.3f}  ")
    w(f"ratio {fin['worker_cpu_seconds'] / max(remux['cpu_seconds'], 1e-9):.1f}x\n")
    w(f"  total (upload + finalise):    {total_cpu / minutes:8.3f}\n")
    w("Doctor's connection (upload), per recorded minute:\n")
    w(f"  request bytes (API):          {api['request_bytes'] / minutes / 1e6:8.3f} MB, ")
    w(f"overhead {(api['request_bytes'] / r['media_bytes'] - 1) * 100:.2f}% over the media\n")
    w(f"  request bytes (baseline):     {baseline['request_bytes'] / minutes / 1e6:8.3f} MB, ")
    w(f"overhead {(baseline['request_bytes'] / r['media_bytes'] - 1) * 100:.2f}%\n")
    w(f"  response bytes (API):         {api['response_bytes'] / minutes / 1e3:8.1f} kB ")
    w(f"({api['response_bytes'] / r['chunks']:.0f} B a chunk)\n")
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
