"""Where the booking benchmark's server CPU goes: py-spy on Daphne while one endpoint is driven.

    .venv/bin/python bench/booking_profile.py OUT_DIR [SECONDS]

Sets up as bench/booking.py does (its own database, seeded; Daphne as deployed), then for slot
listing and booking, API and baseline in turn, sends requests one at a time while
`py-spy record --gil` samples the Daphne process for SECONDS (default 12), and writes the raw
(collapsed) stacks to OUT_DIR/<endpoint>_<side>.txt. It prints each run's Daphne CPU per
request (py-spy attached, so above bench/booking.py's). `--gil` samples only the thread holding
the GIL: Python's own work, not threads waiting on PostgreSQL. Notes from such profiles:
bench/results/booking-profile.md.
"""

import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/booking_profile.py`
    sys.path.insert(0, str(REPO))

from bench import booking  # noqa: E402
from tests.live_server import LiveServer, manage, run_python  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def profile(benchmark, endpoint: str, side: str, pid: int, out: Path, seconds: int) -> str:
    send = getattr(benchmark, f"{endpoint}_{side}")
    warmup = benchmark.payloads(endpoint, side, 30)
    booking.run_load(send, warmup, 1, benchmark.sessions, pid)
    stop, sent, failures = threading.Event(), [0], []

    def drive() -> None:
        while not stop.is_set():
            response = send(benchmark.sessions[0], 0, benchmark.payloads(endpoint, side, 1)[0])
            sent[0] += 1
            if response.status_code >= 300:
                failures.append(response.status_code)

    driver = threading.Thread(target=drive)
    cpu_before = booking.cpu_seconds(pid)
    driver.start()
    command = [PY_SPY, "record", "--gil", "--nonblocking", "-p", str(pid), "-d", str(seconds)]
    command += ["-r", "200", "-f", "raw", "-o", str(out / f"{endpoint}_{side}.txt")]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (our own arguments)
    stop.set()
    driver.join()
    cpu = booking.cpu_seconds(pid) - cpu_before
    return (
        f"{endpoint} {side}: {sent[0]} requests, {cpu / sent[0] * 1000:.2f} ms Daphne CPU per "
        f"request, {len(failures)} failed"
    )


def main() -> None:
    out = Path(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    out.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    env = booking.server_environment(pool=True)
    booking.create_database()
    daphne = None
    try:
        manage(env, "migrate", "--noinput")
        spec = {
            "patients": 4,
            "password": password,
            "list_doctors": 4,
            "list_dates": 4,
            "held_every": 6,
            "booking_doctors": 16,
            "bookings_per_side": 6000,  # enough for SECONDS of bookings one at a time
            "booking_first_day_offset": 10,
        }
        plan = json.loads(run_python(env, "-m", "bench.seed", json.dumps(spec)))
        daphne = LiveServer(env, out / "daphne.log", name="daphne").start()
        tokens = booking.obtain_tokens(daphne.http_url, plan["patients"], password)
        mode = booking.MODES["full"]
        benchmark = booking.Benchmark(daphne.http_url, plan, tokens, daphne.pid, mode)
        for endpoint in ("slots", "booking"):
            for side in ("api", "baseline"):
                print(profile(benchmark, endpoint, side, daphne.pid, out, seconds), flush=True)
    finally:
        if daphne is not None:
            daphne.stop()
        booking.drop_database()


if __name__ == "__main__":
    main()
