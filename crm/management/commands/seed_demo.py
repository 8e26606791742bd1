from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Load the demo data of every module (idempotent; embedded default only)."

    def handle(self, *args, **options):
        if not settings.DEMO_LOGINS:
            raise CommandError(
                "Demo data and demo logins exist only on the embedded default "
                "(no DATABASE_URL); this is a deployment."
            )
        for config in apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if find_spec(module_name) is None:
                continue
            created = import_module(module_name).load()
            if created:
                self.stdout.write(f"{config.label}: created {', '.join(map(str, created))}")
        self.stdout.write(self.style.SUCCESS("Demo data is loaded."))
