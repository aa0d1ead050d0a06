"""ASGI entry point, served by Daphne: HTTP goes to Django, WebSockets to the room consumers.

With clinic/urls.py this is the composition root: the one place in clinic that imports the apps
(visits, rooms) to wire them together. The rest of clinic imports neither."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
# Django must be set up before anything imports models (the consumers do); what
# get_asgi_application does, with our handler (one thread hop per request).
django.setup(set_prefix=False)

from clinic.asgi_handler import SyncChainASGIHandler  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from clinic.static_files import require_collected_static_files  # noqa: E402

require_collected_static_files()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from clinic.websocket_origin import SameOriginValidator  # noqa: E402
from rooms.auth import RoomAuthMiddlewareStack  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only pages of this site (scheme, host and port) may open a room socket.
        "websocket": SameOriginValidator(RoomAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
