"""What tests (and the benchmark, the browser tests) use to drive the stand-in:

    with running_standin(api_key="sk-test") as standin:   # a real process on a free port
        standin.base_url                                  # http://127.0.0.1:N/v1
        standin.requests()                                # GET /_standin/requests
        standin.fault(path=..., status=429, times=2)      # POST /_standin/faults

`spoken(text)`: a sentence said by Debian's espeak-ng, as s16le mono PCM at the rate asked;
`word_error_rate(expected, heard)`: jiwer's, over lower-cased words without punctuation.
"""

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests

START_TIMEOUT = 60.0


@dataclass
class RunningStandIn:
    base_url: str
    api_key: str
    process: subprocess.Popen

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def requests(self) -> list[dict]:
        return requests.get(f"{self.root}/_standin/requests", timeout=5).json()

    def forget_requests(self) -> None:
        requests.delete(f"{self.root}/_standin/requests", timeout=5).raise_for_status()

    def fault(
        self,
        *,
        path: str,
        status: int | None = None,
        times: int = 1,
        delay_seconds: float = 0,
        retry_after: str | None = None,
    ) -> None:
        body = {"path": path, "status": status, "times": times, "delay_seconds": delay_seconds}
        if retry_after is not None:
            body["retry_after"] = retry_after
        requests.post(f"{self.root}/_standin/faults", json=body, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.root}/_standin/faults", timeout=5).raise_for_status()


@contextlib.contextmanager
def running_standin(api_key: str) -> Iterator[RunningStandIn]:
    """`python -m standins.openai --port 0` as a child process, until the block ends."""
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
        [sys.executable, "-m", "standins.openai", "--port", "0", "--api-key", api_key],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
    )
    try:
        base_url = _announced_url(process)
        # Keep reading what it prints (a logged traceback), or a full pipe would stall it.
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        yield RunningStandIn(base_url=base_url, api_key=api_key, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def _drain(stream) -> None:
    with contextlib.suppress(ValueError, OSError):
        for line in stream:
            sys.stderr.write(f"[openai stand-in] {line}")


def _announced_url(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("OPENAI_BASE_URL="):
            return line.strip().split("=", 1)[1]
    raise RuntimeError("The OpenAI stand-in did not start:\n" + "".join(seen))


def spoken(
    text: str,
    *,
    rate: int = 16_000,
    voice: str = "en-us",
    words_per_minute: int = 150,
    silence_before_ms: int = 300,
    silence_after_ms: int = 900,
) -> bytes:
    """`text` as espeak-ng says it, s16le mono PCM at `rate`, with silence around it."""
    import av

    wav = subprocess.run(  # noqa: S603 (espeak-ng from PATH, text as one argument)
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    pcm = bytearray()
    with av.open(io.BytesIO(wav)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pcm += out.to_ndarray().tobytes()
    for out in resampler.resample(None):
        pcm += out.to_ndarray().tobytes()
    before = bytes(2 * rate * silence_before_ms // 1000)
    after = bytes(2 * rate * silence_after_ms // 1000)
    return before + bytes(pcm) + after


def word_error_rate(expected: str, heard: str) -> float:
    import jiwer  # a development dependency: tests and the benchmark only

    normal = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(expected, heard, reference_transform=normal, hypothesis_transform=normal)
