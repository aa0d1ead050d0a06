from django.apps import AppConfig


class TranscriptsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rooms.transcripts"
    label = "transcripts"
    verbose_name = "Visit transcripts and draft notes"
