from django.core.management.base import BaseCommand

from crm.retention import apply_retention


class Command(BaseCommand):
    help = (
        "End what outlived its retention period (RETENTION_* settings), as the nightly task "
        "does; see docs/security.md."
    )

    def handle(self, *args, **options):
        for name, count in apply_retention().items():
            self.stdout.write(f"{name}: {count}")
