"""The app's URLs, unchanged, plus the baseline views under /bench/."""

from django.urls import include, path

from bench import baseline

urlpatterns = [
    path("bench/doctors/<int:doctor_id>/slots/", baseline.doctor_slots, name="bench-slots"),
    path("bench/appointments/", baseline.appointment_book, name="bench-book"),
    path("bench/chunks/<int:seq>/", baseline.chunk_write, name="bench-chunk"),
    path("", include("clinic.urls")),
]
