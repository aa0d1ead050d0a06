"""The stand-in's HTTP server: OpenAI's routes under /v1, the key checked on each, and the
test-only routes under /_standin/ (not OpenAI's):

- `GET /_standin/requests` — every request received, oldest first: method, path, query, headers,
  and its body (JSON, form fields with the file's size only, a realtime session's client events
  with the audio's size only). `DELETE` empties it.
- `POST /_standin/faults` `{"path": "/v1/chat/completions", "status": 429, "times": 2,
  "delay_seconds": 0, "retry_after": "0"}` — the next `times` requests to `path` (after the key
  check, as a rate limit comes) wait `delay_seconds` and answer `status` with OpenAI's error body
  (no `status`: only the wait). `DELETE` clears them.
"""

import asyncio
import logging
import time

from aiohttp import web

from standins.openai.audio import transcriptions
from standins.openai.chat import chat_completions
from standins.openai.errors import auth_failure, http_error
from standins.openai.realtime import realtime
from standins.openai.speech import Speech
from standins.openai.state import API_KEY, FAULTS, REQUESTS, SPEECH

logger = logging.getLogger(__name__)

FAULT_BODIES = {
    429: (
        "Rate limit reached for requests. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@web.middleware
async def log_and_authenticate(request: web.Request, handler):
    if request.path.startswith("/_standin/"):
        return await handler(request)
    entry = {
        "at": time.time(),
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
    }
    request.app[REQUESTS].append(entry)
    request["log_entry"] = entry
    if request.path == "/v1/realtime":  # the socket answers auth failures as events
        return await handler(request)
    failure = auth_failure(request.headers.get("Authorization"), request.app[API_KEY])
    if failure is not None:
        return web.json_response(failure, status=401)
    for fault in request.app[FAULTS]:
        if fault["path"] == request.path and fault["times"] > 0:
            fault["times"] -= 1
            if fault.get("delay_seconds"):
                await asyncio.sleep(float(fault["delay_seconds"]))
            status = fault.get("status")
            if status:
                message, kind, code = FAULT_BODIES.get(status, ("Error.", "server_error", None))
                response = http_error(status, message, type=kind, code=code)
                if fault.get("retry_after") is not None:
                    response.headers["retry-after"] = str(fault["retry_after"])
                return response
            break
    return await handler(request)


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUESTS])


async def clear_requests(request: web.Request) -> web.Response:
    request.app[REQUESTS].clear()
    return web.Response(status=204)


async def add_fault(request: web.Request) -> web.Response:
    fault = await request.json()
    fault.setdefault("times", 1)
    request.app[FAULTS].append(fault)
    return web.json_response(fault, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.Response:
    return http_error(404, f"Invalid URL ({request.method} {request.path})")


def create_app(api_key: str, speech: Speech | None = None) -> web.Application:
    if not api_key:
        raise ValueError("The stand-in checks requests against an API key: give one.")
    app = web.Application(middlewares=[log_and_authenticate], client_max_size=26 * 1024 * 1024)
    app[API_KEY] = api_key
    app[SPEECH] = speech or Speech()
    app[REQUESTS] = []
    app[FAULTS] = []
    app.router.add_get("/v1/realtime", realtime)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/_standin/requests", list_requests)
    app.router.add_delete("/_standin/requests", clear_requests)
    app.router.add_post("/_standin/faults", add_fault)
    app.router.add_delete("/_standin/faults", clear_faults)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def serve(host: str, port: int, api_key: str, on_ready) -> None:
    speech = Speech()
    speech.preload()  # the model loads while the first client connects
    app = create_app(api_key, speech)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    on_ready(f"http://{host}:{bound}/v1")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
