"""Time to first frame in the visit room, peer-to-peer on loopback, and the room page's weight.

    .venv/bin/python bench/first_frame.py              10 runs
    .venv/bin/python bench/first_frame.py --runs 3     fewer

Each run starts from fresh server state (admission is remembered per visit in the Daphne
process): a copy of a once-migrated SQLite file, `manage.py seed_demo`, and a new Daphne on a
free port with the e2e fixture's embedded defaults (DEBUG=true, in-memory channel layer,
ICE_SERVERS=stun:127.0.0.1:9, so host candidates on loopback do the work). Two Debian
Chromium processes, one per person as on two computers (fake camera and microphone, as in
tests/e2e; `--shared-browser` puts both in one, where they share one fake camera): the patient
joins and waits, the doctor joins, then the doctor clicks Admit.

Measured, on one clock (performance.timeOrigin + performance.now(); both pages on this machine):
  t0      the Admit click, seen by a capture-phase click listener in the doctor's page;
  rvfc    the first requestVideoFrameCallback on the page's remote <video> (a decoded frame
          handed to the compositor), per side;
  stats   the first getStats() poll (every 20 ms, armed just before the click) with an
          inbound-rtp video framesDecoded > 0, per side.
Per side: median, min and max of (first frame - t0) over the runs.

Page weight: every .js/.css response the room page gets (from page.on("response") on the
patient's first room load, a fresh context so nothing is cached): the bytes as served
(decoded body), the bytes on the wire (Playwright's responseBodySize, compressed if the server
compressed) with the Content-Encoding it sent, and gzip -9 of the body (Python's gzip module).

Output: a table on stdout and bench/results/first_frame-<timestamp>.json (with every run's
raw timestamps). The load average is printed at start and end: the machine may be shared.
"""

import argparse
import gzip
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/first_frame.py`
    sys.path.insert(0, str(REPO))

from tests.live_server import LiveServer, development_environment, manage  # noqa: E402

RESULTS = REPO / "bench" / "results"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/e2e/conftest.py
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
DOCTOR = ("dr.tanaka", "doctor-demo-pass")
PATIENT = ("hanako", "patient-demo-pass")
TIMEOUT_MS = 30_000

# Installed in every page before its scripts run.
INIT_SCRIPT = r"""
(() => {
  const clock = () => performance.timeOrigin + performance.now();
  const bench = { click: null, rvfc: null, rvfcMeta: null, stats: null, connected: null,
                  pollTimer: null };
  window.__bench = bench;
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#waiting-list button");
    if (button && /Admit/.test(button.textContent) && bench.click === null) bench.click = clock();
  }, true);
  const watch = (video) => {
    if (video.__benchWatched || !video.requestVideoFrameCallback) return;
    video.__benchWatched = true;
    video.requestVideoFrameCallback((now, meta) => {
      if (bench.rvfc !== null) return;
      bench.rvfc = clock();
      bench.rvfcMeta = {
        now: performance.timeOrigin + now,
        presentationTime: performance.timeOrigin + meta.presentationTime,
        expectedDisplayTime: performance.timeOrigin + meta.expectedDisplayTime,
        width: meta.width, height: meta.height,
      };
    });
  };
  new MutationObserver(() => {
    document.querySelectorAll("video.video--remote").forEach(watch);
  }).observe(document, { childList: true, subtree: true });
  bench.arm = () => {
    if (bench.pollTimer) return;
    let busy = false;
    bench.pollTimer = setInterval(async () => {
      if (busy || bench.stats !== null || !window.clinicMeetTestHook) return;
      busy = true;
      try {
        for (const { pc } of window.clinicMeetTestHook.connections()) {
          if (bench.connected === null && pc.connectionState === "connected") {
            bench.connected = clock();
          }
          (await pc.getStats()).forEach((r) => {
            if (r.type === "inbound-rtp" && r.kind === "video" && r.framesDecoded > 0
                && bench.stats === null) bench.stats = clock();
          });
        }
      } finally {
        busy = false;
        if (bench.stats !== null) clearInterval(bench.pollTimer);
      }
    }, 20);
  };
})();
"""


def _interrupted(signum, _frame) -> None:
    raise SystemExit(130)  # unwinds through the finally blocks that stop the servers


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM unwind through the finally blocks that stop servers and browsers."""
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)


def load_average(load: tuple[float, float, float]) -> str:
    return f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def _env(sqlite: Path) -> dict:
    """The e2e fixture's server: DEBUG, peer-to-peer only, nothing external."""
    return development_environment(SQLITE_PATH=str(sqlite), ICE_SERVERS="stun:127.0.0.1:9")


def start_server(workdir: Path, template: Path, run: int) -> LiveServer:
    sqlite = workdir / f"run{run}.sqlite3"
    shutil.copyfile(template, sqlite)
    env = _env(sqlite)
    manage(env, "seed_demo")
    return LiveServer(env, workdir / f"daphne-run{run}.log", name=f"daphne (run {run})").start()


def sign_in(browser, base: str, username: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.on("pageerror", lambda error: print(f"  [{username}] page error: {error}"))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def collect_assets(page, sink: list):
    def on_response(response):
        path = urlparse(response.url).path
        if not (path.endswith(".js") or path.endswith(".css")):
            return
        try:
            body = response.body()
            sizes = response.request.sizes()
        except Exception as error:
            sink.append({"path": path, "error": str(error)})
            return
        sink.append(
            {
                "path": path,
                "status": response.status,
                "content_encoding": response.headers.get("content-encoding", ""),
                "raw_bytes": len(body),
                "wire_body_bytes": sizes.get("responseBodySize"),
                "gzip9_bytes": len(gzip.compress(body, compresslevel=9)),
            }
        )

    page.on("response", on_response)
    return on_response


def one_run(doctor_browser, patient_browser, base: str, assets: list | None) -> dict:
    doctor_ctx, doctor = sign_in(doctor_browser, base, *DOCTOR)
    patient_ctx, patient = sign_in(patient_browser, base, *PATIENT)
    try:
        room_path = patient.get_attribute("a:has-text('Join')", "href")
        if not room_path or not room_path.startswith("/visits/"):
            raise RuntimeError(f"no Join link for the patient: {room_path!r}")
        handler = None
        if assets is not None:
            # The home page already fetched clinic.css; without this the room page revalidates
            # it (a 304) or takes it from the memory cache, and its bytes go uncounted.
            cdp = patient_ctx.new_cdp_session(patient)
            cdp.send("Network.enable")
            cdp.send("Network.clearBrowserCache")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            handler = collect_assets(patient, assets)
        patient.goto(base + room_path)
        patient.wait_for_load_state("networkidle")
        if handler:
            patient.remove_listener("response", handler)
        patient.click("#join-button")
        patient.wait_for_selector("#waiting:not([hidden])", timeout=TIMEOUT_MS)
        doctor.goto(base + room_path)
        doctor.click("#join-button")
        admit = "#waiting-list button:has-text('Admit')"
        doctor.wait_for_selector(admit, timeout=TIMEOUT_MS)
        for page in (doctor, patient):
            page.evaluate("() => window.__bench.arm()")
        doctor.click(admit)
        done = "() => window.__bench.rvfc !== null && window.__bench.stats !== null"
        errors = []
        for name, page in (("doctor", doctor), ("patient", patient)):
            try:
                page.wait_for_function(done, timeout=TIMEOUT_MS, polling=50)
            except Exception as error:
                errors.append(f"{name}: {error.__class__.__name__}")
        get = (
            "() => { const b = window.__bench; return {click: b.click, rvfc: b.rvfc, "
            "rvfcMeta: b.rvfcMeta, stats: b.stats, connected: b.connected, "
            "trace: (window.clinicMeetTestHook?.connections() || []).map(c => c.trace)}; }"
        )
        d, p = doctor.evaluate(get), patient.evaluate(get)
        t0 = d["click"]
        ms = lambda t: None if t is None or t0 is None else t - t0  # noqa: E731
        return {
            "room_path": room_path,
            "t0": t0,
            "doctor": {
                **d,
                "rvfc_ms": ms(d["rvfc"]),
                "stats_ms": ms(d["stats"]),
                "connected_ms": ms(d["connected"]),
            },
            "patient": {
                **p,
                "rvfc_ms": ms(p["rvfc"]),
                "stats_ms": ms(p["stats"]),
                "connected_ms": ms(p["connected"]),
            },
            "errors": errors,
        }
    finally:
        doctor_ctx.close()
        patient_ctx.close()


def summarize(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def fmt(v) -> str:
    return "   —   " if v is None else f"{v:7.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--shared-browser",
        action="store_true",
        help="doctor and patient as two contexts of one Chromium; they then share one fake"
        " camera, and both first frames wait until ~2.6 s after the second page opened it",
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    stop_on_signals()

    started = time.monotonic()
    load_start = os.getloadavg()
    print(f"load average at start: {load_average(load_start)} ({os.cpu_count()} CPUs)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    runs, assets = [], []
    workdir = Path(tempfile.mkdtemp(prefix="first-frame-"))
    from playwright.sync_api import sync_playwright

    try:
        template = workdir / "template.sqlite3"
        manage(_env(template), "migrate", "-v0")
        with sync_playwright() as playwright:
            # Two computers: a Chromium each, so each has a camera of its own.
            browsers = [playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)]
            if not args.shared_browser:
                browsers.append(
                    playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                )
            try:
                for run in range(1, args.runs + 1):
                    server = None
                    try:
                        server = start_server(workdir, template, run)
                        result = one_run(
                            browsers[0], browsers[-1], server.http_url, assets if run == 1 else None
                        )
                    except Exception as error:
                        result = {
                            "errors": [f"{error.__class__.__name__}: {error}"],
                            "doctor": {},
                            "patient": {},
                        }
                    finally:
                        if server is not None:
                            server.stop()
                    result["run"] = run
                    runs.append(result)
                    d, p = result["doctor"], result["patient"]
                    print(
                        f"run {run:2d}: doctor rvfc {fmt(d.get('rvfc_ms'))} ms, stats "
                        f"{fmt(d.get('stats_ms'))} ms | patient rvfc "
                        f"{fmt(p.get('rvfc_ms'))} ms, stats {fmt(p.get('stats_ms'))} ms"
                        + (f"  errors: {result['errors']}" if result["errors"] else "")
                    )
            finally:
                for browser in browsers:
                    browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {
        side: {
            kind: summarize([r[side].get(f"{kind}_ms") for r in runs]) for kind in ("rvfc", "stats")
        }
        for side in ("doctor", "patient")
    }
    for side in ("doctor", "patient"):
        summary[side]["pc_connected"] = summarize([r[side].get("connected_ms") for r in runs])
    load_end = os.getloadavg()
    elapsed = time.monotonic() - started

    print()
    print(f"Admit click -> first decoded remote frame, p2p on loopback, {args.runs} runs (ms)")
    print(f"{'side':<9}{'detector':<22}{'n':>3}{'median':>9}{'min':>9}{'max':>9}")
    labels = {"rvfc": "requestVideoFrameCb", "stats": "getStats framesDec>0"}
    for side in ("doctor", "patient"):
        for kind in ("rvfc", "stats"):
            s = summary[side][kind]
            print(
                f"{side:<9}{labels[kind]:<22}{s['n']:>3}{fmt(s['median']):>9}"
                f"{fmt(s['min']):>9}{fmt(s['max']):>9}"
            )
    for side in ("doctor", "patient"):
        s = summary[side]["pc_connected"]
        print(
            f"{side:<9}{'(pc connected, 20ms)':<22}{s['n']:>3}{fmt(s['median']):>9}"
            f"{fmt(s['min']):>9}{fmt(s['max']):>9}"
        )

    print()
    print("Room page JS/CSS as requested by the page (patient, first load, no cache)")
    print(f"{'path':<34}{'enc':>6}{'raw':>9}{'wire':>9}{'gzip -9':>9}")
    expected = {f"/static/js/room/{p.name}" for p in (REPO / "static/js/room").glob("*.js")}
    expected.add("/static/css/clinic.css")
    seen, total = set(), {"raw_bytes": 0, "wire_body_bytes": 0, "gzip9_bytes": 0}
    for a in assets:
        if "error" in a:
            print(f"{a['path']:<34} error: {a['error']}")
            continue
        seen.add(a["path"])
        print(
            f"{a['path']:<34}{a['content_encoding'] or '-':>6}{a['raw_bytes']:>9}"
            f"{a['wire_body_bytes'] if a['wire_body_bytes'] is not None else '?':>9}"
            f"{a['gzip9_bytes']:>9}"
        )
        for key in total:
            total[key] += a[key] or 0
    print(
        f"{'total (' + str(len(seen)) + ' files)':<34}{'':>6}{total['raw_bytes']:>9}"
        f"{total['wire_body_bytes']:>9}{total['gzip9_bytes']:>9}"
    )
    not_requested = sorted(expected - seen)
    if not_requested:
        print(f"not requested by the page: {', '.join(not_requested)}")
    extra = sorted(seen - expected)
    if extra:
        print(f"requested beyond static/js/room/*.js + clinic.css: {', '.join(extra)}")
    print(
        "wire = response body bytes on the wire (compressed if the server compressed);"
        " gzip -9 = Python gzip level 9 of the body"
    )

    print()
    print(f"load average at start: {load_average(load_start)}; at end: {load_average(load_end)}")
    print(f"run time: {elapsed:.1f} s")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"first_frame-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "runs_requested": args.runs,
                "mode": "p2p",
                "browsers": "shared" if args.shared_browser else "one per person",
                "server": {
                    "DEBUG": "true",
                    "ICE_SERVERS": "stun:127.0.0.1:9",
                    "database": "sqlite",
                    "channel_layer": "in-memory",
                },
                "chromium": CHROMIUM,
                "load_average": {"start": load_start, "end": load_end},
                "cpu_count": os.cpu_count(),
                "elapsed_s": elapsed,
                "summary_ms": summary,
                "runs": runs,
                "assets": assets,
                "assets_total": total,
                "assets_not_requested": not_requested,
                "assets_extra": extra,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(REPO)}")
    failed = sum(1 for r in runs if r["errors"])
    return 1 if failed == len(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
