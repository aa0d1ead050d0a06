"""The recordings API's routes, under /api/ (clinic/urls.py includes them before visits' API,
whose fallback would otherwise answer /api/appointments/<id>/recordings/ with a 404)."""

from django.urls import path, register_converter

from rooms.recordings import apis
from visits.apis.urls import api_not_found


class UnknownRecordingPathConverter:
    """Anything below recordings/ that no route here took (e.g. `recordings/not-a-uuid/`):
    answered with the API's JSON 404, like visits' unknown resources."""

    regex = r"recordings/.+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UnknownRecordingPathConverter, "unknown_recording")

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
    path("<unknown_recording:unknown>/", api_not_found, name="recording-not-found"),  # last
]
