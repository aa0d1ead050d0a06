from django.conf import settings
from django.db import models

from visits.models import Appointment

CHAT_MESSAGE_MAX_LENGTH = 2000


class ChatMessage(models.Model):
    """A line of the in-visit chat, kept with the appointment as part of the visit's record."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="chat_messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_messages"
    )
    text = models.TextField(max_length=CHAT_MESSAGE_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["appointment", "-created_at"], name="chat_appointment_recent")
        ]

    def __str__(self) -> str:
        return f"{self.sender} at {self.created_at:%Y-%m-%d %H:%M}: {self.text[:40]}"
