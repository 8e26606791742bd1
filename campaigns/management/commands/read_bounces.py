"""``manage.py read_bounces <file | maildir | ->``: read delivery status notifications (RFC 3464)
and mark the deliveries they are about as bounced (campaigns.bounces)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from campaigns import bounces


class Command(BaseCommand):
    help = "Read bounce reports (DSN) from a message file, an mbox, a Maildir or standard input."

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="A message file, an mbox file, a Maildir, or '-'.")

    def handle(self, *args, source: str, **options) -> None:
        stdin = sys.stdin.buffer.read() if source == "-" else None
        try:
            outcome = bounces.read(bounces.messages_from(source, stdin))
        except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Reports: {outcome.reports}; hard bounces: {outcome.hard}; soft bounces: "
            f"{outcome.soft}; not matched to a delivery: {outcome.unmatched}; ignored: "
            f"{outcome.ignored}."
        )
