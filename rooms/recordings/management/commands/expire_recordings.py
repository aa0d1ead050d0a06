"""`manage.py expire_recordings`: delete the recordings whose retention ran out
(RECORDING_RETENTION_DAYS after they ended), each in the access log. The worker runs it daily;
safe to run at any time and again."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from rooms.recordings.services.deletion import recordings_expire


class Command(BaseCommand):
    help = "Delete recordings older than RECORDING_RETENTION_DAYS (logged in the access log)."

    def handle(self, *args, **options):
        expired = recordings_expire(now=timezone.now())
        days = settings.RECORDING_RETENTION_DAYS
        noun = "recording" if expired == 1 else "recordings"
        self.stdout.write(f"{expired} {noun} expired (retention {days} days).")
