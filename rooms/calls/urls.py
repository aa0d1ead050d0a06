from django.urls import path

from rooms.calls import apis

SESSION = "<str:room_id>/calls/sessions/<str:session_id>"

urlpatterns = [
    path("<str:room_id>/ice-servers", apis.IceServersApi.as_view(), name="ice-servers"),
    path(
        "<str:room_id>/calls/sessions/new",
        apis.CallsSessionNewApi.as_view(),
        name="calls-session-new",
    ),
    path(f"{SESSION}/tracks/new", apis.CallsTracksNewApi.as_view(), name="calls-tracks-new"),
    path(f"{SESSION}/renegotiate", apis.CallsRenegotiateApi.as_view(), name="calls-renegotiate"),
    path(f"{SESSION}/tracks/close", apis.CallsTracksCloseApi.as_view(), name="calls-tracks-close"),
    path(
        f"{SESSION}/tracks/update", apis.CallsTracksUpdateApi.as_view(), name="calls-tracks-update"
    ),
    path(SESSION, apis.CallsSessionStateApi.as_view(), name="calls-session"),
]
