from django.urls import path

from visits.views import booking, home

app_name = "portal"

urlpatterns = [
    path("", home.home, name="home"),
    path("book/", booking.book_choose_doctor, name="book"),
    path("book/<int:doctor_id>/", booking.book_choose_slot, name="book-slot"),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        booking.reschedule,
        name="reschedule",
    ),
    path("appointments/<int:appointment_id>/cancel/", booking.cancel, name="cancel"),
]
