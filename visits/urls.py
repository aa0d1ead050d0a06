from django.urls import path

from visits.views import booking, home, record, session_timeout

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
    path("record/", record.record_print, name="record"),
    path("record/download/", record.record_download, name="record-download"),
    path("session/", session_timeout.status, name="session-status"),
    path("session/keep-alive/", session_timeout.keep_alive, name="session-keep-alive"),
]
