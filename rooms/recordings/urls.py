"""The recordings API's routes, under /api/ (clinic/urls.py includes them before visits' API,
whose fallback would otherwise answer /api/appointments/<id>/recordings/ with a 404)."""

from django.urls import path

from rooms.recordings import apis
from visits.apis.urls import unknown_resources_route

urlpatterns = [
    path(
        "appointments/<int:appointment_id>/recordings/",
        apis.RecordingListApi.as_view(),
        name="appointment-recordings",
    ),
    path("recordings/<uuid:recording_id>/", apis.RecordingDetailApi.as_view(), name="recording"),
    path(
        "recordings/<uuid:recording_id>/media/",
        apis.RecordingMediaApi.as_view(),
        name="recording-media",
    ),
    path(
        "recordings/<uuid:recording_id>/chunks/<int:seq>/",
        apis.RecordingChunkApi.as_view(),
        name="recording-chunk",
    ),
    unknown_resources_route("unknown_recording", "recordings"),  # last
]
