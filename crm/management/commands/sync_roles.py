from django.core.management.base import BaseCommand

from crm.roles import sync_roles


class Command(BaseCommand):
    help = (
        "Create the roles of the catalogue that are missing (--reset: restore their permissions)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="Put back every role's default permissions."
        )

    def handle(self, *args, reset=False, **options):
        touched = sync_roles(reset=reset)
        self.stdout.write(f"Roles set up: {', '.join(touched) or 'none needed'}")
