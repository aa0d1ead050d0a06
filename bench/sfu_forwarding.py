"""The local SFU's CPU cost per forwarded stream: packet forwarding against decoding and
re-encoding, in the same run.

    .venv/bin/python -m bench.sfu_forwarding                  about 2 minutes
    .venv/bin/python -m bench.sfu_forwarding --seconds 5      shorter measurements

Two SFUs, each `python -m standins.calls_sfu` in a process of its own on loopback:

  relay        the SFU as it was before it forwarded packets: the standins/ package of the
               parent of the commit that replaced the decode/re-encode relay (found with
               `git log -S`), unpacked with `git archive` into a temp dir. Every pushed track
               is decoded once and each subscriber's sender encodes it again (the design of
               aiortc's MediaRelay, with an encoder per subscriber).
  passthrough  this checkout's SFU: RTP payloads forwarded as they came, nothing decoded or
               encoded.

Against each, from this process: one aiortc publisher pushes a 640x480 VP8 video (a textured
pattern scrolling 4 px a frame, 30 fps) and an Opus audio track (aiortc's silence) through the
Calls API; then 1 subscriber pulls both tracks, then 3 more (N=4). Subscribers count the RTP
they receive without decoding it. Per N: a warm-up until every subscriber receives video, then
`--seconds` of measurement of the SFU process's CPU time (utime + stime of /proc/<pid>/stat,
every thread, exited ones included), also the event loop's thread apart from the others,
decoders and encoders (/proc/<pid>/task/*/stat: Python gives the kernel no thread names).

Figures: SFU CPU seconds per second, in all and per forwarded stream (N subscribers x 2
tracks) and per packet the subscribers received, those packets and kbit/s, and the ratio
relay / passthrough. The publisher ignores REMB, so its video stays at aiortc's default
bitrate (500 kbit/s) for both SFUs. The publisher's own encoding costs CPU in this process,
not in the SFU's. Results: a table on stdout and bench/results/sfu_forwarding-<timestamp>.json.
The load average is printed at start and end: the machine may be shared.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python bench/sfu_forwarding.py`
    sys.path.insert(0, str(REPO))
TESTKIT = REPO / "tests" / "standins" / "calls_sfu"
if str(TESTKIT) not in sys.path:
    sys.path.insert(0, str(TESTKIT))

from aiortc import AudioStreamTrack, VideoStreamTrack  # noqa: E402
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket  # noqa: E402
from av import VideoFrame  # noqa: E402
from sfu_testkit import CallsApi, play, publish  # noqa: E402

RESULTS = REPO / "bench" / "results"
WIDTH, HEIGHT = 640, 480
SUBSCRIBER_COUNTS = (1, 4)
# A phrase of the relay's fanout docstring: `git log -S` finds the commit that removed it.
RELAY_MARK = "relays decoded frames that each sender encodes again"
FANOUT = "standins/calls_sfu/fanout.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ScrollingPattern(VideoStreamTrack):
    """16x16 blocks of random grey levels scrolling down 4 px a frame: motion to encode."""

    def __init__(self) -> None:
        super().__init__()
        rng = random.Random(7)  # noqa: S311 (a texture, not a secret)
        rows = []
        for _ in range(2 * HEIGHT // 16):
            row = b"".join(bytes([rng.randrange(32, 224)]) * 16 for _ in range(WIDTH // 16))
            rows.extend([row] * 16)
        self._texture = b"".join(rows)
        self._frame = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=WIDTH, height=HEIGHT)
        start = (self._frame * 4 % HEIGHT) * WIDTH
        luma, chroma_u, chroma_v = frame.planes
        if luma.line_size == WIDTH:
            luma.update(self._texture[start : start + WIDTH * HEIGHT])
        for plane in (chroma_u, chroma_v):
            plane.update(b"\x80" * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self._frame += 1
        return frame


def pin_bitrate(sender) -> None:
    """Keep the publisher's encoder at aiortc's default bitrate: REMB feedback from the SFU is
    dropped, so both SFUs forward the same amount of video."""
    handle = sender._handle_rtcp_packet

    async def without_remb(packet) -> None:
        if not (isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP):
            await handle(packet)

    sender._handle_rtcp_packet = without_remb


@dataclass
class Counted:
    packets: int = 0
    octets: int = 0


def count_received(transceiver) -> Counted:
    """Count the RTP a subscriber's receiver gets, without handling (decoding) it."""
    counted = Counted()

    async def count(packet, arrival_time_ms: int) -> None:
        counted.packets += 1
        counted.octets += len(packet.payload)

    transceiver.receiver._handle_rtp_packet = count
    return counted


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cpu_by_thread(pid: int) -> dict[int, float]:
    """CPU seconds per live thread id (Python names no thread for the kernel: ids it is)."""
    totals: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # the thread ended
        totals[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return totals


@dataclass
class SFUProcess:
    """`python -m standins.calls_sfu` from `root`, on a free loopback port."""

    root: Path
    app_id: str = "bench-app"
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    base_url: str = ""

    def start(self) -> "SFUProcess":
        command = [sys.executable, "-m", "standins.calls_sfu", "--port", "0"]
        command += ["--app-id", self.app_id, "--app-secret", self.app_secret]
        environment = {**os.environ, "PYTHONPATH": str(self.root)}
        self.process = subprocess.Popen(  # noqa: S603 (this interpreter, our own arguments)
            command,
            cwd=self.root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        for line in self.process.stdout:
            if line.startswith("CALLS_API_URL="):
                self.base_url = line.split("=", 1)[1].strip()
                return self
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError(f"The SFU in {self.root} did not start.")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def relay_checkout(into: Path) -> str:
    """Unpack standins/ as it was before packet forwarding; returns that commit."""
    removed = subprocess.run(  # noqa: S603
        ["git", "log", "-S", RELAY_MARK, "--format=%H", "--", FANOUT],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not removed:
        raise SystemExit("No commit in this checkout's history replaced the relay.")
    commit = f"{removed[0]}^"  # newest first: the parent of the commit that removed it
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", commit, "standins"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603, S607
    return subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", commit],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()


async def until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("media did not arrive in time")
        await asyncio.sleep(0.05)


async def measure_sfu(name: str, sfu: SFUProcess, seconds: float, warmup: float) -> list[dict]:
    api = CallsApi(sfu.base_url, sfu.app_id, sfu.app_secret)
    publisher = await publish(api, {"cam": ScrollingPattern(), "mic": AudioStreamTrack()})
    for transceiver in publisher.pc.getTransceivers():
        pin_bitrate(transceiver.sender)
    players, counters = [], []
    rows = []
    try:
        for count in SUBSCRIBER_COUNTS:
            while len(players) < count:
                player, (video_mid, audio_mid) = await play(api, publisher.session_id, "cam", "mic")
                players.append(player)
                counters.append(
                    (
                        count_received(player.transceiver(video_mid)),
                        count_received(player.transceiver(audio_mid)),
                    )
                )
            await until(lambda: all(video.packets > 0 for video, _ in counters))
            await asyncio.sleep(warmup)
            before = [(v.packets, v.octets, a.packets) for v, a in counters]
            cpu_before, threads_before = (
                cpu_seconds(sfu.process.pid),
                cpu_by_thread(sfu.process.pid),
            )
            started = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(sfu.process.pid) - cpu_before
            threads_after = cpu_by_thread(sfu.process.pid)
            spent = {
                tid: (total - threads_before.get(tid, 0.0)) / elapsed
                for tid, total in threads_after.items()
            }
            # The event loop's thread, and the others that worked: decoders and encoders.
            loop_thread = spent.get(sfu.process.pid, 0.0)
            workers = sorted(
                (s for tid, s in spent.items() if tid != sfu.process.pid), reverse=True
            )
            after = [(v.packets, v.octets, a.packets) for v, a in counters]
            video_packets = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
            video_octets = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
            audio_packets = sum(a[2] - b[2] for a, b in zip(after, before, strict=True))
            streams = 2 * count
            rows.append(
                {
                    "sfu": name,
                    "subscribers": count,
                    "streams": streams,
                    "seconds": round(elapsed, 2),
                    "cpu_per_second": round(cpu / elapsed, 4),
                    "cpu_per_second_per_stream": round(cpu / elapsed / streams, 4),
                    "cpu_microseconds_per_packet_received": round(
                        cpu * 1e6 / max(video_packets + audio_packets, 1), 1
                    ),
                    "video_packets_per_second_per_subscriber": round(
                        video_packets / elapsed / count, 1
                    ),
                    "video_kbit_per_second_per_subscriber": round(
                        video_octets * 8 / 1000 / elapsed / count, 1
                    ),
                    "audio_packets_per_second_per_subscriber": round(
                        audio_packets / elapsed / count, 1
                    ),
                    "loop_thread_cpu_per_second": round(loop_thread, 4),
                    "threads": len(spent),
                    "busy_worker_threads": sum(1 for s in workers if s >= 0.005),
                    "worker_threads_cpu_per_second": round(sum(workers), 4),
                }
            )
            print(f"  {name:11s} N={count}: {cpu / elapsed:.3f} CPU s/s", flush=True)
    finally:
        for player in players:
            await player.pc.close()
        await publisher.pc.close()
    return rows


def print_table(rows: list[dict]) -> None:
    print()
    header = (
        f"{'SFU':11s} {'N':>2s} {'CPU s/s':>8s} {'/stream':>8s} "
        f"{'us/packet':>9s} {'video pkt/s':>11s} {'kbit/s':>7s} {'audio pkt/s':>11s}"
        "  (per subscriber)"
    )
    print(header)
    for row in rows:
        print(
            f"{row['sfu']:11s} {row['subscribers']:>2d} {row['cpu_per_second']:>8.3f} "
            f"{row['cpu_per_second_per_stream']:>8.4f} "
            f"{row['cpu_microseconds_per_packet_received']:>9.0f} "
            f"{row['video_packets_per_second_per_subscriber']:>11.1f} "
            f"{row['video_kbit_per_second_per_subscriber']:>7.0f} "
            f"{row['audio_packets_per_second_per_subscriber']:>11.1f}"
        )
    print("\nSFU threads: the event loop's CPU s/s; the others (decoders, encoders), busy ones")
    for row in rows:
        print(
            f"  {row['sfu']:11s} N={row['subscribers']}: loop "
            f"{row['loop_thread_cpu_per_second']:.3f}, {row['threads'] - 1} others "
            f"{row['worker_threads_cpu_per_second']:.3f} "
            f"({row['busy_worker_threads']} used >= 0.005 CPU s/s)"
        )
    print()
    for count in SUBSCRIBER_COUNTS:
        by_sfu = {r["sfu"]: r for r in rows if r["subscribers"] == count}
        relay, passthrough = by_sfu["relay"], by_sfu["passthrough"]
        ratio = relay["cpu_per_second"] / max(passthrough["cpu_per_second"], 1e-9)
        print(f"N={count}: relay / passthrough CPU = {ratio:.1f}x")


async def run(seconds: float, warmup: float) -> dict:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="sfu-relay-") as relay_root:
        relay_commit = relay_checkout(Path(relay_root))
        for name, root in (("relay", Path(relay_root)), ("passthrough", REPO)):
            sfu = SFUProcess(root).start()
            try:
                rows += await measure_sfu(name, sfu, seconds, warmup)
            finally:
                sfu.stop()
    return {"relay_commit": relay_commit, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per N")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    options = parser.parse_args()
    load_start = os.getloadavg()
    print(f"Load average at start: {load_start[0]:.2f} (on {os.cpu_count()} CPUs)")
    result = asyncio.run(run(options.seconds, options.warmup))
    load_end = os.getloadavg()
    print_table(result["rows"])
    print(f"Load average at end: {load_end[0]:.2f}; relay SFU from {result['relay_commit']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"sfu_forwarding-{stamp}.json"
    result |= {
        "video": f"{WIDTH}x{HEIGHT} VP8 30 fps + Opus",
        "seconds": options.seconds,
        "load_average": [load_start[0], load_end[0]],
    }
    path.write_text(json.dumps(result, indent=2))
    print(f"Written {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
