from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Back up the database and the uploaded files into a new folder under BACKUP_DIR "
        "(or --output); see docs/operations.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="Folder to put the backup in.")

    def handle(self, *args, output=None, **options):
        try:
            folder = backup(output)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Backup written to {folder}"))
