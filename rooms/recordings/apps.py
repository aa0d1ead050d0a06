from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rooms.recordings"
    label = "recordings"
    verbose_name = "Consultation recordings"
