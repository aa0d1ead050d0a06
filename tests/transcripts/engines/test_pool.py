"""The recognition pool end to end, with the real local engine in a real engine process."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rooms.transcripts.engines.base import Final, Partial
from rooms.transcripts.pool import Progress, RecognitionPool, StreamFailed
from tests.transcripts.dialogue import word_error_rate

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[3]
FRAME = 640
SILENCE = b"\0" * 32_000  # 1 s: the turn is over


def feed(stream, pcm: bytes) -> None:
    for at in range(0, len(pcm), FRAME):
        stream.feed(pcm[at : at + FRAME])


async def next_final(stream, timeout: float = 30.0) -> Final:
    async with asyncio.timeout(timeout):
        while True:
            event = await stream.events.get()
            assert not isinstance(event, StreamFailed), event
            if isinstance(event, Final):
                return event


async def test_a_turn_followed_by_silence_arrives_as_a_final(pool, options, dialogue):
    stream = await pool.open_stream(engine="local", options=options)
    feed(stream, dialogue.turn_pcm[1] + SILENCE)

    final = await next_final(stream)

    assert word_error_rate(dialogue.turns[1].text, final.text) <= 0.25
    assert stream.fed_ms == len(dialogue.turn_pcm[1] + SILENCE) // 32
    assert await stream.finish(timeout=10) == []
    assert stream.recognised_ms == stream.fed_ms
    events = [stream.events.get_nowait() for _ in range(stream.events.qsize())]
    assert Progress(stream.fed_ms) in events


async def test_finish_flushes_the_last_turn(pool, options, dialogue):
    stream = await pool.open_stream(engine="local", options=options)
    feed(stream, dialogue.turn_pcm[3])  # no silence after: the turn is still under way

    finals = await stream.finish(timeout=20)

    assert len(finals) == 1
    assert word_error_rate(dialogue.turns[3].text, finals[0].text) <= 0.25
    assert stream.closed
    queued = [stream.events.get_nowait() for _ in range(stream.events.qsize())]
    assert finals[0] in queued


async def test_an_aborted_stream_says_nothing_more(pool, options, dialogue):
    stream = await pool.open_stream(engine="local", options=options)
    feed(stream, dialogue.turn_pcm[4] + SILENCE)
    stream.abort()
    stream.feed(SILENCE)  # ignored, never raises

    # A stream opened after it still works: the engine process dropped the aborted one.
    other = await pool.open_stream(engine="local", options=options)
    feed(other, dialogue.turn_pcm[5] + SILENCE)
    await next_final(other)
    await other.finish()

    assert stream.closed
    assert stream.events.empty()
    assert all(stream is not s for w in pool.workers for s in w.streams.values())


async def test_the_pool_holds_a_bounded_backlog_per_stream(options, dialogue):
    # A consumer that ignores the window: the pool stops taking audio at twice it.
    pool = RecognitionPool(workers=1, max_backlog_ms=1_000)
    try:
        stream = await pool.open_stream(engine="local", options=options)
        feed(stream, SILENCE * 10)

        assert stream.fed_ms <= 2_000 + 20
        assert stream.dropped_ms >= 7_900
        stream.abort()
    finally:
        pool.shutdown()


async def test_the_event_loop_stays_responsive_while_the_engine_decodes(pool, options, dialogue):
    long_turn = b"".join(dialogue.turn_pcm[:4])  # ~17 s of speech without a pause
    stream = await pool.open_stream(engine="local", options=options)
    lags: list[float] = []
    busy = True

    async def ticker():
        while busy:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    feed(stream, long_turn)
    partials = 0
    async with asyncio.timeout(30):
        while stream.recognised_ms < stream.fed_ms:
            partials += isinstance(await stream.events.get(), Partial)
    finals = await stream.finish(timeout=20)
    busy = False
    await ticking

    assert partials and finals  # the engine really was decoding meanwhile
    assert max(lags) < 0.05


async def test_a_killed_engine_process_fails_its_streams_and_the_pool_recovers(
    pool, options, dialogue
):
    stream = await pool.open_stream(engine="local", options=options)
    feed(stream, dialogue.turn_pcm[6])
    worker = next(w for w in pool.workers if stream in w.streams.values())
    os.kill(worker.process.pid, signal.SIGKILL)

    async with asyncio.timeout(10):
        while not isinstance(event := await stream.events.get(), StreamFailed):
            pass
    assert "exited" in event.reason
    assert stream.closed

    again = await pool.open_stream(engine="local", options=options)
    feed(again, dialogue.turn_pcm[7] + SILENCE)
    final = await next_final(again)
    await again.finish()
    assert word_error_rate(dialogue.turns[7].text, final.text) <= 0.25


async def test_a_server_exits_even_when_its_engine_process_died_with_audio_queued():
    # The queue's feeder thread blocks on a full pipe nobody reads once the engine process is
    # gone; if exit waited for it to flush, a server (or this test run) would hang forever.
    script = """
import multiprocessing, os, signal, time
from rooms.transcripts.pool import CONTEXT, EngineWorker
worker = EngineWorker(multiprocessing.get_context(CONTEXT))
worker.ensure_started()
os.kill(worker.process.pid, signal.SIGKILL)
worker.process.join()
for _ in range(20):
    worker.send(("feed", 1, bytes(100_000)))
time.sleep(0.5)
print("exiting", flush=True)
"""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert "exiting" in done.stdout
