"""The recognition pool: speech engines in processes of their own, so Daphne's loop never decodes.

    pool = get_pool()
    stream = await pool.open_stream(engine="local", options=EngineOptions(prompt=...))
    stream.feed(pcm)                      # never blocks, never raises for backlog
    event = await stream.events.get()     # Partial | Final | Progress | StreamFailed
    stream.fed_ms, stream.recognised_ms
    finals = await stream.finish(timeout=10.0)
    stream.abort()

TRANSCRIPTION_WORKERS engine processes per server process (multiprocessing "forkserver": a
child is never forked from a process running an event loop and threads), started on the first
open_stream; each stream goes to the least loaded one and stays there. An engine process loads
each engine once and keeps it. If one dies, every stream on it gets StreamFailed and the next
open_stream starts a fresh one.

Memory: audio waits in the parent (a multiprocessing queue's buffer) until its engine process
reads it. The consumer keeps `fed_ms - recognised_ms` within TRANSCRIPTION_MAX_BACKLOG_SECONDS
(and refuses audio beyond it), so a stream's unprocessed audio is at most that window: 20 s is
640 KB. As a last guard the pool itself drops audio beyond HARD_BACKLOG_FACTOR times the window
(counted in stream.dropped_ms), so a consumer bug cannot grow memory without bound either.

Messages: parent → engine process over a multiprocessing Queue (its feeder thread keeps put()
from blocking the loop); engine process → parent over a Pipe, read by one thread per process
that hands each event to its stream's loop with call_soon_threadsafe.
"""

import asyncio
import atexit
import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import wait

from rooms.transcripts.engines.base import (
    BYTES_PER_SAMPLE,
    SAMPLE_RATE,
    EngineOptions,
    Final,
    Partial,
)

logger = logging.getLogger(__name__)

HARD_BACKLOG_FACTOR = 2
CONTEXT = "forkserver"


@dataclass(frozen=True)
class Progress:
    """The engine has consumed the stream's audio up to here (for acks and the backlog window)."""

    recognised_ms: int


@dataclass(frozen=True)
class StreamFailed:
    """The stream is over without its remaining Finals: the engine failed or its process died."""

    reason: str


def _ms(byte_count: int) -> int:
    return byte_count // BYTES_PER_SAMPLE * 1000 // SAMPLE_RATE


def engine_settings(name: str) -> dict:
    """The plain values an engine is built from, read from Django's settings in the parent (the
    engine process never needs Django)."""
    from django.conf import settings

    if name == "local":
        cores = os.cpu_count() or 2
        return {"cpu_threads": max(1, cores // settings.TRANSCRIPTION_WORKERS)}
    if name == "openai-realtime":
        return {
            "base_url": settings.OPENAI_BASE_URL,
            "api_key": settings.OPENAI_API_KEY,
            "model": settings.OPENAI_REALTIME_TRANSCRIPTION_MODEL,
        }
    return {}


# --- engine process


def _engine_process(requests, replies) -> None:
    """Runs in the engine process: streams' audio in, their events out, in order."""
    from rooms.transcripts.engines.registry import get_engine

    engines: dict = {}
    streams: dict = {}

    def send(*message) -> None:
        replies.send(message)

    def handle(kind, stream_id, payload) -> None:
        if kind == "open":
            name, settings, options = payload
            key = (name, tuple(sorted(settings.items())))
            try:
                if key not in engines:
                    engines[key] = get_engine(name, **settings)
                streams[stream_id] = [engines[key].open_stream(options), 0]
            except Exception as error:  # a model refused, an API unreachable: this stream fails
                logger.exception("transcription engine %s could not open a stream", name)
                send("failed", stream_id, f"{type(error).__name__}: {error}")
            return
        entry = streams.get(stream_id)
        if entry is None:
            return  # aborted, or its open failed
        recognizer = entry[0]
        try:
            if kind == "feed":
                events = recognizer.feed(payload)
                entry[1] += len(payload)
                send("events", stream_id, (events, entry[1]))
            elif kind == "finish":
                events = recognizer.finish()
                del streams[stream_id]
                send("closed", stream_id, (events, entry[1]))
            elif kind == "abort":
                del streams[stream_id]
        except Exception as error:
            logger.exception("transcription engine failed on a stream")
            streams.pop(stream_id, None)
            send("failed", stream_id, f"{type(error).__name__}: {error}")

    while True:
        batch = [requests.get()]
        while True:  # take whatever else is waiting: a stream behind is fed in one go
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
        merged: list = []
        for message in batch:
            if message is None:
                return
            last = merged[-1] if merged else None
            if last and message[0] == last[0] == "feed" and message[1] == last[1]:
                merged[-1] = ("feed", last[1], last[2] + message[2])
            else:
                merged.append(message)
        for kind, stream_id, payload in merged:
            handle(kind, stream_id, payload)


# --- parent side


class RecognitionStream:
    def __init__(self, worker: "EngineWorker", stream_id: int, max_backlog_ms: int):
        self._worker = worker
        self._id = stream_id
        self._loop = asyncio.get_running_loop()
        self._max_unrecognised_ms = max_backlog_ms * HARD_BACKLOG_FACTOR
        self.events: asyncio.Queue = asyncio.Queue()
        self.fed_ms = 0
        self.recognised_ms = 0
        self.dropped_ms = 0
        self._fed_bytes = 0
        self._closed = False
        self._finishing: list[Final] | None = None
        self._done = self._loop.create_future()

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, pcm: bytes) -> None:
        if self._closed or self._finishing is not None or not pcm:
            return
        if self.fed_ms - self.recognised_ms > self._max_unrecognised_ms:
            self.dropped_ms += _ms(len(pcm))  # the consumer's window failed; never grow
            return
        self._fed_bytes += len(pcm)
        self.fed_ms = _ms(self._fed_bytes)
        self._worker.send(("feed", self._id, bytes(pcm)))

    async def finish(self, timeout: float = 10.0) -> list[Final]:
        """The audio is over: the Finals still to come (also put on events), then closed."""
        if not self._closed and self._finishing is None:
            self._finishing = []
            self._worker.send(("finish", self._id, None))
        if not self._closed:
            try:
                await asyncio.wait_for(asyncio.shield(self._done), timeout)
            except TimeoutError:
                self.abort()
        return list(self._finishing or [])

    def abort(self) -> None:
        if self._closed:
            return
        self._worker.send(("abort", self._id, None))
        self._close()

    def _close(self) -> None:
        self._closed = True
        self._worker.forget(self._id)
        if not self._done.done():
            self._done.set_result(None)

    # called on the loop, from the worker's reader thread
    def _deliver(self, kind: str, payload) -> None:
        if self._closed:
            return
        if kind == "failed":
            self.events.put_nowait(StreamFailed(payload))
            self._close()
            return
        events, recognised_bytes = payload
        for event in events:
            if isinstance(event, Final) and self._finishing is not None:
                self._finishing.append(event)
            self.events.put_nowait(event)
        self.recognised_ms = _ms(recognised_bytes)
        self.events.put_nowait(Progress(self.recognised_ms))
        if kind == "closed":
            self._close()


class EngineWorker:
    """One engine process and the thread that reads its replies."""

    def __init__(self, context):
        self._context = context
        self._lock = threading.Lock()
        self.streams: dict[int, RecognitionStream] = {}
        self.process = None
        self._requests = None

    @property
    def load(self) -> int:
        return len(self.streams)

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def ensure_started(self) -> None:
        with self._lock:
            if self.alive():
                return
            requests = self._context.Queue()
            # At exit the queue's feeder thread would otherwise wait to flush its buffer into a
            # pipe whose reader (a stopped or killed engine process) is gone: the process hangs.
            requests.cancel_join_thread()
            reader, writer = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_engine_process,
                args=(requests, writer),
                name="transcription-engine",
                daemon=True,
            )
            process.start()
            writer.close()
            self.process, self._requests = process, requests
            threading.Thread(
                target=self._read, args=(process, reader), name="transcription-replies", daemon=True
            ).start()

    def send(self, message) -> None:
        # A closed queue: the process is gone, and its streams are told so by the reader.
        with contextlib.suppress(ValueError, AssertionError, OSError):
            self._requests.put(message)

    def attach(self, stream: RecognitionStream) -> None:
        self.streams[stream._id] = stream

    def forget(self, stream_id: int) -> None:
        self.streams.pop(stream_id, None)

    def _read(self, process, reader) -> None:
        while True:
            ready = wait([reader, process.sentinel])
            if reader in ready:
                try:
                    kind, stream_id, payload = reader.recv()
                except (EOFError, OSError):
                    pass
                else:
                    stream = self.streams.get(stream_id)
                    if stream is not None:
                        stream._loop.call_soon_threadsafe(stream._deliver, kind, payload)
                    continue
            if process.sentinel in ready or not process.is_alive():
                process.join()
                break
        reader.close()
        reason = f"transcription engine process exited (code {process.exitcode})"
        if process.exitcode:
            logger.error(reason)
        for stream in list(self.streams.values()):
            with contextlib.suppress(RuntimeError):  # that stream's loop is closed
                stream._loop.call_soon_threadsafe(stream._deliver, "failed", reason)

    def stop(self, timeout: float = 3.0) -> None:
        process = self.process
        if process is None or not process.is_alive():
            return
        self.send(None)
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(timeout)
        self._requests.close()


class RecognitionPool:
    def __init__(self, workers: int, max_backlog_ms: int):
        self._context = multiprocessing.get_context(CONTEXT)
        self.workers = [EngineWorker(self._context) for _ in range(workers)]
        self.max_backlog_ms = max_backlog_ms
        self._ids = itertools.count(1)

    async def open_stream(
        self, engine: str, options: EngineOptions | None = None, settings: dict | None = None
    ) -> RecognitionStream:
        options = options or EngineOptions()
        if settings is None:
            settings = engine_settings(engine)
        worker = min(self.workers, key=lambda w: w.load)
        if not worker.alive():  # starting a process blocks for a moment: not on the loop
            await asyncio.get_running_loop().run_in_executor(None, worker.ensure_started)
        stream = RecognitionStream(worker, next(self._ids), self.max_backlog_ms)
        worker.attach(stream)
        worker.send(("open", stream._id, (engine, settings, options)))
        return stream

    def shutdown(self) -> None:
        for worker in self.workers:
            worker.stop()


_pool: RecognitionPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> RecognitionPool:
    """This server process's pool (engine processes start on the first stream)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from django.conf import settings

            _pool = RecognitionPool(
                workers=settings.TRANSCRIPTION_WORKERS,
                max_backlog_ms=settings.TRANSCRIPTION_MAX_BACKLOG_SECONDS * 1000,
            )
            atexit.register(_pool.shutdown)
        return _pool


__all__ = ["Final", "Partial", "Progress", "RecognitionPool", "StreamFailed", "get_pool"]
