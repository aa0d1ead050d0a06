"""`python -m standins.calls_sfu`: a local Cloudflare Calls-compatible SFU, for development
without a Cloudflare account. Run it, then start Clinic Meet with the CALLS_API_URL it prints
and the same CALLS_APP_ID / CALLS_APP_SECRET. Loopback only; needs the `sfu` extra.

App id, secret and TURN key default to the environment variables Clinic Meet reads
(CALLS_APP_ID, CALLS_APP_SECRET, TURN_KEY_ID, TURN_KEY_API_TOKEN).
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from standins.calls_sfu import SFUDependencyError, require_dependencies

DEFAULT_PORT = 8787


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standins.calls_sfu",
        description=(
            "Run a local Cloudflare Calls-compatible SFU on loopback and print the CALLS_API_URL "
            "to use. App id and secret default to CALLS_APP_ID / CALLS_APP_SECRET."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="A loopback address to bind.")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)."
    )
    parser.add_argument("--app-id", help="The app id to accept (default: CALLS_APP_ID).")
    parser.add_argument(
        "--app-secret", help="The app secret to accept (default: CALLS_APP_SECRET)."
    )
    parser.add_argument(
        "--turn-key-id", help="TURN key id to accept (default: TURN_KEY_ID, else the app id)."
    )
    parser.add_argument(
        "--turn-key-token",
        help="TURN key API token (default: TURN_KEY_API_TOKEN, else the app secret).",
    )
    parser.add_argument(
        "--tamper-media",
        action="store_true",
        help=(
            "TEST ONLY: flip one byte of every forwarded VP8/Opus payload, in the part a "
            "browser encrypting media end to end encrypts (after the VP8 payload descriptor "
            "and the frame's 10/3 clear bytes; after Opus's 1), so decryption must fail. "
            "Never for real calls: nobody can see or hear anyone."
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Serve until interrupted. A refusal exits with its message (SystemExit, status 1)."""
    options = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    app_id = options.app_id or environ.get("CALLS_APP_ID", "")
    app_secret = options.app_secret or environ.get("CALLS_APP_SECRET", "")
    if not app_id or not app_secret:
        raise SystemExit(
            "The SFU checks requests against an app id and secret, as Calls does: set "
            "CALLS_APP_ID and CALLS_APP_SECRET, or pass --app-id and --app-secret."
        )
    turn_key_id = options.turn_key_id or environ.get("TURN_KEY_ID", "")
    turn_key_token = options.turn_key_token or environ.get("TURN_KEY_API_TOKEN", "")
    if not (turn_key_id and turn_key_token):
        turn_key_id = turn_key_token = ""  # the app id and secret serve as the TURN key
    try:
        require_dependencies()
    except SFUDependencyError as error:
        raise SystemExit(str(error)) from None

    from standins.calls_sfu.server import SFUConfig, serve_forever  # aiortc, imported only here

    try:
        config = SFUConfig(
            app_id=app_id,
            app_secret=app_secret,
            host=options.host,
            port=options.port,
            turn_key_id=turn_key_id,
            turn_key_token=turn_key_token,
            tamper_media=options.tamper_media,
        )
    except ValueError as error:
        raise SystemExit(str(error)) from None

    def ready(server) -> None:
        print(f"Local Calls SFU for app {app_id} on {server.base_url}")
        if options.tamper_media:
            print("TEST ONLY: --tamper-media flips a byte of every forwarded payload.")
        print("Start Clinic Meet with the same CALLS_APP_ID/CALLS_APP_SECRET and")
        print(f"CALLS_API_URL={server.base_url}")
        print("Quit with CONTROL-C.", flush=True)

    try:
        serve_forever(config, on_ready=ready)
    except OSError as error:
        raise SystemExit(f"Cannot serve on {config.host}:{config.port}: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
