from django.urls import path

from rooms import views

app_name = "rooms"

urlpatterns = [
    path("<uuid:room_id>/", views.room, name="room"),
]
