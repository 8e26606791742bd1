from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.backup import BackupError, read_manifest, restore


class Command(BaseCommand):
    help = (
        "Replace the database and the uploaded files with a backup made by `manage.py backup`. "
        "Stop the web, worker and beat processes first; see docs/operations.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="The backup's folder (crm-backup-...).")
        parser.add_argument(
            "--yes", action="store_true", help="Do not ask for confirmation (scripts)."
        )

    def handle(self, *args, folder, yes=False, **options):
        try:
            manifest = read_manifest(folder)
            if not yes:
                self.stdout.write(
                    f"This replaces every record and file of the CRM with the backup of "
                    f"{manifest['created_at']}."
                )
                if input("Type 'restore' to go on: ").strip() != "restore":
                    raise CommandError("Nothing was restored.")
            result = restore(folder)
        except BackupError as error:
            raise CommandError(str(error)) from error
        message = f"Restored {result.database} and {result.files} files from {folder}."
        if result.previous_files:
            message += f" The files it replaced are kept in {result.previous_files}."
        self.stdout.write(self.style.SUCCESS(message))
