"""Django's ASGI handler with a synchronous middleware chain: one thread hop per request.

Django's own ASGIHandler builds the chain for async mode. Our views are synchronous, and so
is WhiteNoise, so the chain alternated between the event loop and the request's thread: each
async-capable MiddlewareMixin ran its process_request and process_response through
sync_to_async, WhiteNoise went back through async_to_sync, and the view through sync_to_async
again — about twenty hops per request, each a wake-up of the other thread (the booking
benchmark measured several milliseconds of CPU per request in them, bench/results/
booking-profile.md). Here the whole chain, middleware and view, runs as one synchronous call
in the request's thread (Django's thread-sensitive context: one thread per request, so
requests still run side by side and each keeps its own database connection).

What still runs on the event loop is Django's: reading the body, the request_started and
request_finished signals, sending the response (also an async streaming body such as a
recording's download).
"""

from asgiref.sync import sync_to_async
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        # BaseHandler.get_response: the chain, the request's closers, the log of a 4xx/5xx.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
