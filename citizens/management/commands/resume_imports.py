"""Queue again the imports whose worker died (Celery beat runs this every two minutes too)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from citizens.imports import resume_stale


class Command(BaseCommand):
    help = (
        "Queue again imports of people and organisations that show no progress for "
        "--stale-minutes (default IMPORT_STALE_MINUTES): they go on after their last committed "
        "row."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-minutes",
            type=float,
            default=settings.IMPORT_STALE_MINUTES,
            help="Minutes without progress after which an import counts as stuck.",
        )

    def handle(self, *args, stale_minutes: float, **options):
        resumed = resume_stale(stale_after=timedelta(minutes=stale_minutes))
        if resumed:
            self.stdout.write(f"Queued again: {', '.join(map(str, resumed))}")
        else:
            self.stdout.write("No stuck imports.")
