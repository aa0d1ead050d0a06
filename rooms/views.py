from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from rooms.selectors import room_appointment_for_user, room_join_window


@login_required
def room(request: HttpRequest, room_id) -> HttpResponse:
    appointment = room_appointment_for_user(room_id=room_id, user=request.user)
    if appointment is None:
        # 404 rather than 403: a room address must not confirm that a visit exists.
        raise Http404("No such visit room.")
    window = room_join_window(appointment=appointment, now=timezone.now())
    return render(
        request,
        "rooms/room.html",
        {"appointment": appointment, "window": window, "is_doctor": request.user.is_doctor},
    )
