"""WebSocket routes of the visit rooms (the signaling consumer joins here)."""

websocket_urlpatterns: list = []
