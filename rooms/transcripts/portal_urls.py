"""The portal's transcript page and the doctor's "Transcribe" of a recording, under /visits/."""

from django.urls import path

from rooms.transcripts import views

app_name = "transcripts"

urlpatterns = [
    path("<int:appointment_id>/transcript/", views.visit_transcript, name="visit-transcript"),
    path(
        "<int:appointment_id>/recordings/<uuid:recording_id>/transcribe/",
        views.recording_transcribe,
        name="recording-transcribe",
    ),
]
