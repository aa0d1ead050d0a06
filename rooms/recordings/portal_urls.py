"""The portal's recordings pages, under /visits/ (clinic/urls.py)."""

from django.urls import path

from rooms.recordings import views

app_name = "recordings"

urlpatterns = [
    path(
        "<int:appointment_id>/recordings/",
        views.visit_recordings,
        name="visit-recordings",
    ),
]
