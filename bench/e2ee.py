"""What end-to-end encryption (docs/e2ee.md) costs the visit room, against E2EE=off in the same run.

    .venv/bin/python bench/e2ee.py                   full run, 3.5-5 minutes on 2 cores
    .venv/bin/python bench/e2ee.py --runs 2 --seconds 8
    .venv/bin/python bench/e2ee.py --skip-cpu        first frame and bytes only
    .venv/bin/python bench/e2ee.py --with-sfu        also bench/sfu_forwarding.py's table

Server and browsers as bench/first_frame.py (whose code this imports): fresh SQLite demo clinic
per server, Daphne with DEBUG on, ICE_SERVERS=stun:127.0.0.1:9, two Debian Chromiums (doctor,
patient) with the fake camera and microphone, peer-to-peer on loopback; plus E2EE=<mode> and
MAX_WEBCAM_QUALITY_LEVEL=720, so the page asks the fake camera for 720p.

1. CPU: per mode (off, then required), a call that stays up: after admit, wait until remote
   video plays (and, when required, until the test hook says `encrypted`), a warm-up, then
   `--seconds` of CPU time (utime + stime, /proc/<pid>/stat) of each Chromium's process tree
   (the browser process found by a marker switch, then its descendants), and per thread name
   (/proc/<pid>/task/*/comm) so the dedicated worker's thread shows apart. The resolution and
   frame rate the sender actually sends come from getStats (outbound-rtp video).
2. First frame: bench/first_frame.py's `one_run` (Admit click -> first decoded remote frame, per
   side), `--runs` times per mode, alternating off / required, a fresh server each time.
3. Bytes: raw and gzip -9 of the e2ee files; the room page's JS (every .js response of the
   patient's page from load to media flowing) with E2EE off, optional (not turned on) and
   required, and whether any static/js/room/e2ee/ file was loaded.
4. The SFU: `--with-sfu` runs bench/sfu_forwarding.py (its own table); else a pointer to it.

Output: a table on stdout and bench/results/e2ee-<timestamp>.json. Load average at start and
end: the machine may be shared, and Chromium's encoder adapts to the CPU it gets.
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/e2ee.py`
    sys.path.insert(0, str(REPO))

from bench.first_frame import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCTOR,
    PATIENT,
    TIMEOUT_MS,
    load_average,
    one_run,
    sign_in,
    stop_on_signals,
    summarize,
)
from tests.live_server import LiveServer, development_environment, manage  # noqa: E402

RESULTS = REPO / "bench" / "results"
E2EE_DIR = REPO / "static" / "js" / "room" / "e2ee"
E2EE_FILES = ("mls.bundle.js", "frame-crypto.js", "frame-transform.js", "transform-worker.js")
BUNDLE_GOAL_GZIP = 45 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HOOK = "window.clinicMeetTestHook"
REMOTE_PLAYS = (
    "() => [...document.querySelectorAll('video.video--remote')]"
    ".some(v => v.readyState >= 2 && v.videoWidth > 0)"
)
SENDER_STATS = """async () => {
  const out = [];
  for (const { pc } of window.clinicMeetTestHook.connections()) {
    for (const sender of pc.getSenders()) {
      if (sender.track?.kind === "video") {
        const { width, height, frameRate } = sender.track.getSettings();
        out.push({type: "capture", width, height, frameRate});
      }
    }
    const codecs = {};
    (await pc.getStats()).forEach((r) => { if (r.type === "codec") codecs[r.id] = r.mimeType; });
    (await pc.getStats()).forEach((r) => {
      if (r.kind !== "video") return;
      if (r.type === "outbound-rtp") out.push({type: r.type, frameWidth: r.frameWidth,
        frameHeight: r.frameHeight, framesPerSecond: r.framesPerSecond, framesSent: r.framesSent,
        bytesSent: r.bytesSent, qualityLimitationReason: r.qualityLimitationReason,
        codec: codecs[r.codecId],
        encoderImplementation: r.encoderImplementation});
      if (r.type === "inbound-rtp") out.push({type: r.type, frameWidth: r.frameWidth,
        frameHeight: r.frameHeight, framesDecoded: r.framesDecoded, bytesReceived: r.bytesReceived,
        framesDropped: r.framesDropped});
    });
  }
  return out;
}"""
E2EE_STATE = f"() => {{ const e = {HOOK}.e2ee; return {{state: e.state, encrypted: e.encrypted,"
E2EE_STATE += " streams: e.streams, decryptFailures: e.decryptFailures}; }"


def _env(sqlite: Path, mode: str) -> dict:
    return development_environment(
        SQLITE_PATH=str(sqlite),
        ICE_SERVERS="stun:127.0.0.1:9",
        E2EE=mode,
        MAX_WEBCAM_QUALITY_LEVEL="720",
    )


def start_server(workdir: Path, template: Path, mode: str, tag: str) -> LiveServer:
    sqlite = workdir / f"{tag}.sqlite3"
    shutil.copyfile(template, sqlite)
    env = _env(sqlite, mode)
    manage(env, "seed_demo")
    return LiveServer(env, workdir / f"daphne-{tag}.log", name=f"daphne ({tag})").start()


# --- /proc ---------------------------------------------------------------------------------


def _stat_fields(path: Path) -> list[str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def browser_pid(marker: str) -> int:
    """The Chromium browser process launched with `marker` among its switches."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and not any(a.startswith(b"--type=") for a in argv):
            return int(entry.name)
    raise RuntimeError(f"no Chromium process with {marker}")


def process_tree(root: int) -> list[int]:
    children, tree, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def thread_cpu(pids: list[int]) -> dict[tuple[int, int], tuple[str, str, int]]:
    """(pid, tid) -> (process type, thread name, CPU ticks) for every live thread."""
    out = {}
    for pid in pids:
        try:
            # Chromium's children rewrite their title: one string with spaces, not argv.
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        kind = next((a[7:].decode() for a in argv if a.startswith(b"--type=")), "browser")
        if kind == "utility":
            sub = next((a.decode() for a in argv if a.startswith(b"--utility-sub-type=")), "")
            kind = "utility:" + sub.split("=")[-1].split(".")[-1] if sub else kind
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            task = Path(f"/proc/{pid}/task/{tid}")
            fields = _stat_fields(task / "stat")
            if not fields:
                continue
            try:
                comm = (task / "comm").read_text().strip()
            except OSError:
                continue
            out[(pid, int(tid))] = (kind, comm, int(fields[11]) + int(fields[12]))
    return out


def process_cpu_ticks(pids: list[int]) -> int:
    """utime + stime of each process (all its threads, exited ones included)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total


def thread_deltas(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """CPU s/s per "process type/thread name", over threads alive at both ends."""
    grouped: dict[str, float] = {}
    for key, (kind, comm, ticks) in after.items():
        if key not in before:
            continue
        name = f"{kind}/{comm}"
        grouped[name] = grouped.get(name, 0.0) + (ticks - before[key][2]) / CLOCK_TICKS / seconds
    return dict(sorted(grouped.items(), key=lambda item: -item[1]))


def worker_share(threads: dict[str, float]) -> float:
    return sum(v for k, v in threads.items() if "DedicatedWorker" in k or "WorkerThread" in k)


# --- the call ------------------------------------------------------------------------------


def js_collector(page, sink: list):
    def on_response(response):
        path = urlparse(response.url).path
        if not path.endswith(".js"):
            return
        try:
            size = len(response.body())
        except Exception as error:
            sink.append({"path": path, "error": str(error)})
            return
        sink.append({"path": path, "status": response.status, "raw_bytes": size})

    page.on("response", on_response)


def cpu_call(browsers: dict, base: str, mode: str, seconds: float, warmup: float) -> dict:
    """One call kept up; the patient's JS responses, and (seconds > 0) both trees' CPU."""
    doctor_ctx, doctor = sign_in(browsers["doctor"], base, *DOCTOR)
    patient_ctx, patient = sign_in(browsers["patient"], base, *PATIENT)
    scripts: list = []
    try:
        room_path = patient.get_attribute("a:has-text('Join')", "href")
        js_collector(patient, scripts)
        patient.goto(base + room_path)
        patient.click("#join-button")
        patient.wait_for_selector("#waiting:not([hidden])", timeout=TIMEOUT_MS)
        doctor.goto(base + room_path)
        doctor.click("#join-button")
        admit = "#waiting-list button:has-text('Admit')"
        doctor.wait_for_selector(admit, timeout=TIMEOUT_MS)
        doctor.click(admit)
        for page in (doctor, patient):
            page.wait_for_function(REMOTE_PLAYS, timeout=TIMEOUT_MS, polling=100)
            if mode == "required":
                page.wait_for_function(f"() => {HOOK}.e2ee.encrypted", timeout=TIMEOUT_MS)
        result = {"mode": mode, "scripts": scripts}
        if seconds <= 0:
            patient.wait_for_load_state("networkidle")
            result["e2ee"] = {"patient": patient.evaluate(E2EE_STATE)}
            return result
        time.sleep(warmup)
        pages = {"doctor": doctor, "patient": patient}
        trees = {side: process_tree(browsers[f"{side}_pid"]) for side in pages}
        e2ee_before = {side: page.evaluate(E2EE_STATE) for side, page in pages.items()}
        threads_before = {side: thread_cpu(tree) for side, tree in trees.items()}
        ticks_before = {side: process_cpu_ticks(tree) for side, tree in trees.items()}
        start = time.monotonic()
        time.sleep(seconds / 2)
        media = {side: page.evaluate(SENDER_STATS) for side, page in pages.items()}
        time.sleep(seconds / 2)
        ticks_after = {side: process_cpu_ticks(tree) for side, tree in trees.items()}
        threads_after = {side: thread_cpu(tree) for side, tree in trees.items()}
        wall = time.monotonic() - start
        e2ee_after = {side: page.evaluate(E2EE_STATE) for side, page in pages.items()}
        sides = {}
        for side in pages:
            threads = thread_deltas(threads_before[side], threads_after[side], wall)
            sides[side] = {
                "cpu_s_per_s": (ticks_after[side] - ticks_before[side]) / CLOCK_TICKS / wall,
                "worker_cpu_s_per_s": worker_share(threads),
                "threads_top": dict(list(threads.items())[:12]),
                "video_stats": media[side],
                "e2ee_before": e2ee_before[side],
                "e2ee_after": e2ee_after[side],
                "frames_through_worker": _stream_frames(e2ee_after[side])
                - _stream_frames(e2ee_before[side]),
            }
        result.update({"seconds": wall, "sides": sides})
        return result
    finally:
        doctor_ctx.close()
        patient_ctx.close()


def _stream_frames(state: dict) -> int:
    return sum((s.get("stats") or {}).get("frames", 0) for s in state.get("streams") or [])


def outbound_video(side: dict, kind: str = "outbound-rtp") -> dict:
    out = [s for s in side.get("video_stats", []) if s["type"] == kind]
    return out[0] if out else {}


# --- bytes ---------------------------------------------------------------------------------


def e2ee_file_sizes() -> dict[str, dict[str, int]]:
    sizes = {}
    for name in E2EE_FILES:
        body = (E2EE_DIR / name).read_bytes()
        sizes[name] = {"raw": len(body), "gzip9": len(gzip.compress(body, compresslevel=9))}
    return sizes


def js_weight(scripts: list) -> dict:
    ok = [s for s in scripts if "raw_bytes" in s]
    e2ee = sorted({s["path"] for s in ok if "/js/room/e2ee/" in s["path"]})
    # panel.js, protection.js and session.js are the page's own modules (imported always); the
    # encryption code proper is what `bundleUrl`/`workerUrl` load only when it is on.
    heavy = sorted(p for p in e2ee if p.rsplit("/", 1)[-1] in E2EE_FILES)
    return {
        "files": len({s["path"] for s in ok}),
        "raw_bytes": sum(s["raw_bytes"] for s in ok),
        "e2ee_files": e2ee,
        "encryption_code_loaded": heavy,
    }


def ratio(a, b) -> str:
    return "—" if not a or not b else f"{a / b:.2f}x"


def fmt_ms(v) -> str:
    return "—" if v is None else f"{v:.0f}"


def run_sfu_bench(seconds: float | None) -> int:
    command = [sys.executable, "-m", "bench.sfu_forwarding"]
    if seconds:
        command += ["--seconds", str(seconds)]
    return subprocess.run(command, cwd=REPO, check=False).returncode  # noqa: S603 (our argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="first-frame runs per mode")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured CPU seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-first-frame", action="store_true")
    parser.add_argument("--with-sfu", action="store_true", help="run bench/sfu_forwarding.py")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    stop_on_signals()

    started = time.monotonic()
    load_start = os.getloadavg()
    print(f"load average at start: {load_average(load_start)} ({os.cpu_count()} CPUs)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    calls: dict[str, dict] = {}
    first_frames: dict[str, list] = {"off": [], "required": []}
    workdir = Path(tempfile.mkdtemp(prefix="e2ee-bench-"))
    from playwright.sync_api import sync_playwright

    try:
        template = workdir / "template.sqlite3"
        manage(_env(template, "off"), "migrate", "-v0")
        with sync_playwright() as playwright:
            browsers: dict = {}
            for side in ("doctor", "patient"):
                marker = f"--bench-e2ee-{side}={os.getpid()}"
                browsers[side] = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, marker]
                )
                browsers[f"{side}_pid"] = browser_pid(marker)
            try:
                # Page weight with E2EE optional and not turned on: a call without measuring.
                cpu_modes = [("optional", 0.0)]
                cpu_modes += (
                    [("off", 0.0), ("required", 0.0)]
                    if args.skip_cpu
                    else [
                        ("off", args.seconds),
                        ("required", args.seconds),
                    ]
                )
                for mode, seconds in cpu_modes:
                    server = start_server(workdir, template, mode, f"call-{mode}")
                    try:
                        calls[mode] = cpu_call(
                            browsers, server.http_url, mode, seconds, args.warmup
                        )
                    except Exception as error:
                        calls[mode] = {
                            "mode": mode,
                            "error": f"{error.__class__.__name__}: {error}",
                        }
                    finally:
                        server.stop()
                    line = f"call {mode:<9}"
                    if "error" in calls[mode]:
                        line += f" error: {calls[mode]['error']}"
                    elif "sides" in calls[mode]:
                        for side, s in calls[mode]["sides"].items():
                            v = outbound_video(s)
                            line += (
                                f" | {side} {s['cpu_s_per_s']:.3f} CPU s/s, worker"
                                f" {s['worker_cpu_s_per_s']:.3f}, sends {v.get('frameWidth')}x"
                                f"{v.get('frameHeight')}@{v.get('framesPerSecond')}"
                            )
                    print(line, flush=True)
                if not args.skip_first_frame:
                    for run in range(1, args.runs + 1):
                        for mode in ("off", "required"):
                            server = None
                            try:
                                server = start_server(workdir, template, mode, f"ff-{mode}-{run}")
                                result = one_run(
                                    browsers["doctor"], browsers["patient"], server.http_url, None
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
                            first_frames[mode].append(result)
                            d, p = result["doctor"], result["patient"]
                            print(
                                f"first frame run {run} {mode:<8}: doctor rvfc"
                                f" {fmt_ms(d.get('rvfc_ms'))} ms | patient rvfc"
                                f" {fmt_ms(p.get('rvfc_ms'))} ms"
                                + (f"  errors: {result['errors']}" if result["errors"] else ""),
                                flush=True,
                            )
            finally:
                for side in ("doctor", "patient"):
                    browsers[side].close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load_end = os.getloadavg()
    report = build_report(args, calls, first_frames, e2ee_file_sizes())
    report.update(
        {
            "timestamp": stamp,
            "load_average": {"start": load_start, "end": load_end},
            "cpu_count": os.cpu_count(),
            "chromium": CHROMIUM,
        }
    )
    print()
    print("\n".join(format_report(report)))
    print()
    sfu_status = 0
    if args.with_sfu:
        print("Local SFU, CPU per forwarded stream (bench/sfu_forwarding.py):", flush=True)
        sfu_status = run_sfu_bench(None)
    else:
        print(
            "SFU CPU per forwarded stream, relay vs passthrough: "
            "`.venv/bin/python -m bench.sfu_forwarding` (or --with-sfu)"
        )
    report["elapsed_s"] = time.monotonic() - started
    print(
        f"load average at start: {load_average(load_start)};"
        f" after the browser runs: {load_average(load_end)}"
    )
    print(f"run time: {report['elapsed_s']:.1f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"e2ee-{stamp}.json"
    out.write_text(json.dumps({**report, "calls": calls, "first_frames": first_frames}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")
    broken = any("error" in c for c in calls.values())
    return 1 if broken or sfu_status else 0


def build_report(args, calls: dict, first_frames: dict, files: dict) -> dict:
    """The figures, from the raw measurements (kept apart from the run for tests/bench)."""
    cpu = {}
    if all("sides" in calls.get(m, {}) for m in ("off", "required")):
        for side in ("doctor", "patient"):
            off, on = calls["off"]["sides"][side], calls["required"]["sides"][side]
            cpu[side] = {
                "off": off["cpu_s_per_s"],
                "required": on["cpu_s_per_s"],
                "added": on["cpu_s_per_s"] - off["cpu_s_per_s"],
                "worker_off": off["worker_cpu_s_per_s"],
                "worker_required": on["worker_cpu_s_per_s"],
                "sent_off": _resolution(outbound_video(off)),
                "sent_required": _resolution(outbound_video(on)),
                "camera": _camera(outbound_video(on, "capture")),
            }
        cpu["total"] = {
            k: sum(cpu[s][k] for s in ("doctor", "patient"))
            for k in ("off", "required", "added", "worker_off", "worker_required")
        }
    first = {
        mode: {
            side: summarize([r[side].get("rvfc_ms") for r in runs])
            for side in ("doctor", "patient")
        }
        for mode, runs in first_frames.items()
    }
    pages = {mode: js_weight(c.get("scripts", [])) for mode, c in calls.items() if "scripts" in c}
    return {
        "args": vars(args),
        "cpu": cpu,
        "first_frame_ms": first,
        "e2ee_files": files,
        "bundle_goal_gzip": BUNDLE_GOAL_GZIP,
        "page_js": pages,
    }


def _camera(settings: dict) -> str:
    if not settings:
        return "?"
    return f"{settings.get('width')}x{settings.get('height')}@{settings.get('frameRate')}"


def _resolution(stats: dict) -> str:
    if not stats:
        return "?"
    fps = stats.get("framesPerSecond")
    return f"{stats.get('frameWidth')}x{stats.get('frameHeight')}@{fps if fps is not None else '?'}"


def format_report(report: dict) -> list[str]:
    lines = []
    cpu = report["cpu"]
    if cpu:
        lines.append(
            "Chromium CPU s/s per browser process tree, p2p call,"
            f" {report['args']['seconds']:.0f} s"
        )
        lines.append(
            f"{'side':<9}{'off':>8}{'required':>10}{'added':>8}{'ratio':>8}"
            f"{'worker off':>12}{'worker req':>12}   sent (off / required)"
        )
        for side in ("doctor", "patient", "total"):
            c = cpu[side]
            sent = f"{c['sent_off']} / {c['sent_required']}" if side != "total" else ""
            lines.append(
                f"{side:<9}{c['off']:>8.3f}{c['required']:>10.3f}{c['added']:>+8.3f}"
                f"{ratio(c['required'], c['off']):>8}{c['worker_off']:>12.3f}"
                f"{c['worker_required']:>12.3f}   {sent}"
            )
        cameras = ", ".join(f"{side} {cpu[side]['camera']}" for side in ("doctor", "patient"))
        lines.append(f"camera track (getSettings, required): {cameras}")
        lines.append("")
    first = report["first_frame_ms"]
    if any(first[m]["doctor"]["n"] for m in first):
        lines.append("Admit click -> first decoded remote frame (requestVideoFrameCallback), ms")
        lines.append(f"{'side':<9}{'off med':>9}{'req med':>9}{'added':>8}{'ratio':>8}{'n':>6}")
        for side in ("doctor", "patient"):
            off, on = first["off"][side], first["required"][side]
            added = (
                None
                if off["median"] is None or on["median"] is None
                else on["median"] - off["median"]
            )
            lines.append(
                f"{side:<9}{fmt_ms(off['median']):>9}{fmt_ms(on['median']):>9}"
                f"{'—' if added is None else f'{added:+.0f}':>8}"
                f"{ratio(on['median'], off['median']):>8}{off['n']:>3}/{on['n']:<2}"
            )
        lines.append("")
    lines.append(f"{'e2ee file':<24}{'raw':>9}{'gzip -9':>9}")
    for name, s in report["e2ee_files"].items():
        lines.append(f"{name:<24}{s['raw']:>9}{s['gzip9']:>9}")
    bundle = report["e2ee_files"]["mls.bundle.js"]["gzip9"]
    goal = report["bundle_goal_gzip"]
    lines.append(
        f"mls.bundle.js gzip -9 {bundle / 1024:.1f} KiB: goal <= {goal // 1024} KiB "
        + ("met" if bundle <= goal else "MISSED")
    )
    lines.append("")
    lines.append("Room page JS (patient, load to media flowing)")
    for mode, page in report["page_js"].items():
        heavy = page["encryption_code_loaded"]
        lines.append(
            f"  E2EE={mode:<9} {page['files']:>3} files {page['raw_bytes']:>7} bytes; MLS bundle"
            f" / worker / frame crypto loaded: "
            + ("yes (" + ", ".join(p.rsplit("/", 1)[-1] for p in heavy) + ")" if heavy else "no")
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
