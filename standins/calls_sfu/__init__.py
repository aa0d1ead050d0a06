"""A Cloudflare Calls-compatible SFU for local development and tests (no Cloudflare account).

It speaks the subset of the Calls HTTP API that Clinic Meet uses (sessions, tracks/new for push
and pull, renegotiate, tracks/close, tracks/update, session state, TURN credentials) under
`/v1`, checks the app secret like Calls does, and really forwards media between WebRTC sessions:
aiohttp serves the API and aiortc terminates one RTCPeerConnection per session. Everything binds
to loopback only. Start it with `python -m standins.calls_sfu`
(from the repository), or in-process with `standins.calls_sfu.server.start_in_thread()` (tests).

Needs the `sfu` extra (`pip install -e '.[sfu]'`, also part of `dev`). This module imports
nothing heavy: the entry point (`__main__`) uses `require_dependencies()` to fail with a clear
message.
"""

import importlib

INSTALL_HINT = "pip install -e '.[sfu]'"


class SFUDependencyError(ImportError):
    """aiortc or aiohttp is missing: the `sfu` extra is not installed."""


def require_dependencies() -> None:
    """Raise SFUDependencyError naming the missing package and how to install it."""
    for module in ("aiohttp", "aiortc", "jsonschema"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise SFUDependencyError(
                f"The local Calls SFU needs {module!r}, which is not installed: "
                f"install the `sfu` extra ({INSTALL_HINT}) or the `dev` extra."
            ) from error
