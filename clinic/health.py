"""`GET /healthz`: is this process able to reach its database and its channel layer?"""

import asyncio
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

CHECK_TIMEOUT_SECONDS = 3.0


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


async def _check_channel_layer() -> dict:
    layer = get_channel_layer()
    # A round trip through the layer proves both directions work, not only that a socket opened.
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "health.ping":
        raise RuntimeError("channel layer returned an unexpected message")
    return {"backend": type(layer).__name__}


async def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        details = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # any failure means "down"; the reason goes to the operator
        return {"status": "down", "error": f"{type(error).__name__}: {error}"[:300]}
    return {
        "status": "ok",
        **details,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    database, channel_layer = await asyncio.gather(
        _timed(sync_to_async(_check_database, thread_sensitive=True)),
        _timed(_check_channel_layer),
    )
    healthy = database["status"] == "ok" and channel_layer["status"] == "ok"
    return JsonResponse(
        {
            "status": "ok" if healthy else "down",
            "database": database,
            "channel_layer": channel_layer,
        },
        status=200 if healthy else 503,
    )
