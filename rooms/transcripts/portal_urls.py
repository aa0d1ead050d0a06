"""The portal's transcript page, under /visits/ (clinic/urls.py)."""

from django.urls import path

from rooms.transcripts import views

app_name = "transcripts"

urlpatterns = [
    path("<int:appointment_id>/transcript/", views.visit_transcript, name="visit-transcript"),
]
