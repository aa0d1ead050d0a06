"""WebSocket routes of the visit rooms."""

from django.urls import re_path

from rooms.consumers import RoomConsumer
from rooms.transcripts.consumers import AudioConsumer

websocket_urlpatterns = [
    # Any text here reaches the consumer, which answers an unknown room with close code 4404.
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,64})/$", RoomConsumer.as_asgi()),
    # The doctor's page sends the call's audio here while the visit is transcribed.
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,64})/audio/$", AudioConsumer.as_asgi()),
]
