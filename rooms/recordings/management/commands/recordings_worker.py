"""`manage.py recordings_worker`: the recordings' background worker (`make run` starts it beside
the server; a `worker` service in docker-compose.yml).

django-tasks-db's `db_worker` with the same options, after making sure the periodic tasks (the
sweep of live recordings and the daily expiry, rooms/recordings/tasks.py) have a run pending:
a fresh database gets them, a restart or a second worker adds none.

It runs every task of the default queue, so also the transcription of a recording after the
visit (rooms/transcripts/tasks.py), with the configured engine.
"""

from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from rooms.recordings.tasks import periodic_tasks_ensure


class Command(DatabaseWorkerCommand):
    help = (
        "Run the recordings' worker: finalising, transcribing recordings, the sweep of idle "
        "recordings and the daily expiry (django-tasks-db's db_worker, with the periodic tasks "
        "enqueued)."
    )

    def handle(self, *args, **options) -> None:
        enqueued = periodic_tasks_ensure()
        if options["verbosity"] and enqueued:
            self.stdout.write(f"Enqueued the periodic tasks: {', '.join(enqueued)}.")
        super().handle(*args, **options)
