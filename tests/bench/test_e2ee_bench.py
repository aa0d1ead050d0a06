"""The E2EE benchmark's own arithmetic (bench/e2ee.py): CPU per thread name from /proc samples,
the page-weight check that tells the encryption code from the page's own e2ee modules, and the
report's added figures and ratios against the baseline."""

from argparse import Namespace

from bench.e2ee import (
    CLOCK_TICKS,
    build_report,
    format_report,
    js_weight,
    thread_deltas,
    worker_share,
)


def test_thread_deltas_group_by_process_type_and_name_and_skip_threads_not_alive_at_both_ends():
    before = {
        (10, 11): ("renderer", "DedicatedWorker", 100),
        (10, 12): ("renderer", "DedicatedWorker", 50),
        (10, 13): ("renderer", "Compositor", 0),
        (20, 21): ("gpu-process", "VizCompositorTh", 7),  # exited before the second sample
    }
    after = {
        (10, 11): ("renderer", "DedicatedWorker", 100 + CLOCK_TICKS),
        (10, 12): ("renderer", "DedicatedWorker", 50 + CLOCK_TICKS),
        (10, 13): ("renderer", "Compositor", CLOCK_TICKS // 2),
        (30, 31): ("renderer", "DedicatedWorker", 999),  # started in between
    }
    threads = thread_deltas(before, after, seconds=2.0)
    assert threads == {"renderer/DedicatedWorker": 1.0, "renderer/Compositor": 0.25}
    assert list(threads) == ["renderer/DedicatedWorker", "renderer/Compositor"]  # busiest first
    assert worker_share(threads) == 1.0


def test_only_the_bundle_worker_and_frame_crypto_count_as_encryption_code_loaded():
    always = ["/static/js/room/e2ee/panel.js", "/static/js/room/e2ee/session.js"]
    scripts = [{"path": p, "raw_bytes": 10} for p in ["/static/js/room/main.js", *always]]
    off = js_weight(scripts)
    assert off["encryption_code_loaded"] == [] and off["raw_bytes"] == 30
    bundle = "/static/js/room/e2ee/mls.bundle.js"
    on = js_weight([*scripts, {"path": bundle, "raw_bytes": 5}, {"path": "/x.js", "error": "gone"}])
    assert on["encryption_code_loaded"] == [bundle]
    assert on["raw_bytes"] == 35 and on["files"] == 4


def _side(cpu: float, worker: float, width: int) -> dict:
    outbound = {"type": "outbound-rtp", "frameWidth": width, "frameHeight": width * 9 // 16}
    camera = {"type": "capture", "width": 1280, "height": 720, "frameRate": 20}
    return {"cpu_s_per_s": cpu, "worker_cpu_s_per_s": worker, "video_stats": [camera, outbound]}


def _run(ms: float) -> dict:
    return {"doctor": {"rvfc_ms": ms}, "patient": {"rvfc_ms": ms + 100}}


def test_the_report_adds_and_divides_against_the_same_runs_baseline():
    calls = {
        "off": {"sides": {"doctor": _side(0.5, 0.0, 1280), "patient": _side(0.4, 0.0, 1280)}},
        "required": {"sides": {"doctor": _side(0.6, 0.05, 1280), "patient": _side(0.6, 0.07, 960)}},
    }
    first = {"off": [_run(400), _run(500), _run(300)], "required": [_run(700), _run(900)]}
    files = {"mls.bundle.js": {"raw": 100, "gzip9": 50 * 1024}}
    args = Namespace(seconds=20.0, runs=3)
    report = build_report(args, calls, first, files)
    assert round(report["cpu"]["patient"]["added"], 3) == 0.2
    assert round(report["cpu"]["total"]["added"], 3) == 0.3
    assert round(report["cpu"]["total"]["worker_required"], 3) == 0.12
    assert report["cpu"]["patient"]["sent_required"] == "960x540@?"
    assert report["cpu"]["patient"]["camera"] == "1280x720@20"
    assert report["first_frame_ms"]["off"]["doctor"]["median"] == 400
    assert report["first_frame_ms"]["required"]["patient"]["median"] == 900
    text = "\n".join(format_report(report))
    assert "+0.300" in text and "1.33x" in text  # total CPU: 1.2 / 0.9
    assert "+400" in text and "2.00x" in text  # doctor first frame: 800 / 400
    assert "goal <= 45 KiB MISSED" in text
