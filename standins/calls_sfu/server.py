"""Running the SFU: in the foreground (`python -m standins.calls_sfu`) or on a background
thread (tests).

    with start_in_thread(app_id="app", app_secret="secret") as sfu:
        requests.post(f"{sfu.base_url}/apps/app/sessions/new", headers=...)

`base_url` ends in /v1, like CALLS_API_URL. The HTTP API, the STUN responder and every media
socket bind to loopback only.
"""

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from standins.calls_sfu.api import ApiSettings, create_app
from standins.calls_sfu.core import SFU
from standins.calls_sfu.ice import start_stun_responder, use_loopback_host_candidates

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8787


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SFUConfig:
    app_id: str
    app_secret: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port
    # The TURN stand-in's key; by default the app id and secret serve as key id and token.
    turn_key_id: str = ""
    turn_key_token: str = ""
    # Tests only: flip one byte of every forwarded payload (fanout.tamper_offset), so a page
    # that decrypts media end to end sees it fail.
    tamper_media: bool = False

    def __post_init__(self) -> None:
        if not self.app_id or not self.app_secret:
            raise ValueError("The SFU needs an app id and an app secret.")
        if not is_loopback(self.host):
            raise ValueError(f"The local SFU binds to loopback only, not {self.host!r}.")
        if bool(self.turn_key_id) != bool(self.turn_key_token):
            raise ValueError("A TURN key id and its API token go together.")


class SFUServer:
    """The SFU on the running event loop: `await start()`, then `await stop()`."""

    def __init__(self, config: SFUConfig) -> None:
        self.config = config
        self.sfu = SFU(tamper_media=config.tamper_media)
        self.port: int | None = None
        self.stun_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._stun: asyncio.DatagramTransport | None = None

    @property
    def base_url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> None:
        use_loopback_host_candidates()
        config = self.config
        host = "127.0.0.1" if config.host == "localhost" else config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, config.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._stun, self.stun_port = await start_stun_responder(host, self.port)
        stun_host = f"[{host}]" if ":" in host else host
        settings = ApiSettings(
            apps={config.app_id: config.app_secret},
            turn_keys={
                (config.turn_key_id or config.app_id): (config.turn_key_token or config.app_secret)
            },
            ice_urls=[f"stun:{stun_host}:{self.stun_port}"],
        )
        self._runner = web.AppRunner(create_app(self.sfu, settings), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        logger.info("Local Calls SFU on %s", self.base_url)

    async def stop(self) -> None:
        await self.sfu.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._stun is not None:
            self._stun.close()


def serve_forever(config: SFUConfig, on_ready: Callable[[SFUServer], None] | None = None) -> None:
    """Run the SFU in the foreground until SIGINT or SIGTERM."""

    async def main() -> None:
        server = SFUServer(config)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not on Windows, nor off the main thread.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            if on_ready is not None:
                on_ready(server)
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())


class SFUThread:
    """The SFU on a daemon thread with its own event loop; a context manager."""

    def __init__(self, config: SFUConfig) -> None:
        self.config = config
        self.server = SFUServer(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def app_secret(self) -> str:
        return self.config.app_secret

    def start(self, timeout: float = 10.0) -> "SFUThread":
        self._thread = threading.Thread(target=self._run, name="calls-sfu", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("The local SFU did not start in time.")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self.server.stop())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def call(self, function: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `function()` (or await it, if it returns an awaitable) on the SFU's loop."""

        async def run() -> Any:
            result = function()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        if self._loop is None:
            raise RuntimeError("The SFU is not running.")
        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("The SFU's loop did not answer in time.") from None

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> "SFUThread":
        return self if self._ready.is_set() else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(
    app_id: str = "local-app",
    app_secret: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    turn_key_id: str = "",
    turn_key_token: str = "",
    tamper_media: bool = False,
) -> SFUThread:
    """Start the SFU on a background thread (a free port by default) and return its handle."""
    config = SFUConfig(
        app_id=app_id,
        app_secret=app_secret or secrets.token_hex(16),
        host=host,
        port=port,
        turn_key_id=turn_key_id,
        turn_key_token=turn_key_token,
        tamper_media=tamper_media,
    )
    return SFUThread(config).start()
