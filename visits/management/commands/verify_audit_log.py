"""Check the access log's hash chain: exit 0 and print the head when intact, 1 naming the first
entry that is not (docs/audit.md). Write the printed head down somewhere the database is not
(a daily log line, a ticket): a rewrite of the whole chain from some entry on is found only by
comparing with a head recorded before it (--anchor)."""

from django.core.management.base import BaseCommand, CommandError

from visits.models import AccessLogEntry
from visits.services.access_log import chain_verify


class Command(BaseCommand):
    help = "Verify the access log's hash chain; print the entry count and the head hash."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="HASH",
            help="A head hash printed earlier: it must still be in the chain (repeatable).",
        )

    def handle(self, *args, anchor: list[str], **options) -> None:
        report = chain_verify()
        if report.broken_at is not None:
            raise CommandError(
                f"Access log chain broken at entry {report.broken_at}: {report.problem}. "
                f"{report.entries} entries before it check out."
            )
        for recorded in anchor:
            if not AccessLogEntry.objects.filter(entry_hash=recorded).exists():
                raise CommandError(
                    f"Anchor {recorded} is not in the chain: the log was rewritten or cut "
                    "since it was recorded."
                )
        self.stdout.write(f"{report.entries} entries, chain intact, head {report.head or '-'}")
