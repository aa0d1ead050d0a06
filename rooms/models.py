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


class VisitEncryption(models.Model):
    """A visit whose media its doctor put under end-to-end encryption (E2EE=optional). There is
    no turning it off for that visit: a privacy promise made in the call is not taken back."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="encryption"
    )
    turned_on_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    turned_on_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.appointment}: end-to-end encrypted since {self.turned_on_at:%Y-%m-%d %H:%M}"
