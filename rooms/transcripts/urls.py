"""The transcripts API's routes, under /api/ (clinic/urls.py includes them before the recordings'
and visits' APIs, whose fallbacks would otherwise answer /api/recordings/<id>/transcription/
and /api/appointments/<id>/transcript/ with a 404)."""

from django.urls import path

from rooms.transcripts import apis
from visits.apis.urls import unknown_resources_route

urlpatterns = [
    path(
        "appointments/<int:appointment_id>/transcript/",
        apis.TranscriptApi.as_view(),
        name="appointment-transcript",
    ),
    path(
        "appointments/<int:appointment_id>/draft-note/",
        apis.DraftNoteApi.as_view(),
        name="appointment-draft-note",
    ),
    path(
        "transcript-segments/<int:segment_id>/",
        apis.TranscriptSegmentApi.as_view(),
        name="transcript-segment",
    ),
    path(
        "recordings/<uuid:recording_id>/transcription/",
        apis.RecordingTranscriptionApi.as_view(),
        name="recording-transcription",
    ),
    unknown_resources_route("unknown_transcript_segment", "transcript-segments"),  # last
]
