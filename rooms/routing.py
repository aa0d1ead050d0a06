"""WebSocket routes of the visit rooms."""

from django.urls import re_path

from rooms.consumers import RoomConsumer

websocket_urlpatterns = [
    # Any text here reaches the consumer, which answers an unknown room with close code 4404.
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,64})/$", RoomConsumer.as_asgi()),
]
