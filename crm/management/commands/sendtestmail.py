import smtplib
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from kombu.exceptions import OperationalError

from crm import emails
from crm.tasks import send_templated_email

TEMPLATE = "mail-check"


class Command(BaseCommand):
    help = (
        "Send the mail-check email to the given addresses, to verify that the CRM can send "
        "email. By default it is sent at once through the configured mailer and any SMTP error "
        "is shown; with --through-worker it is queued for the Celery worker, which checks the "
        "broker, the worker and the mail server together."
    )

    def add_arguments(self, parser):
        parser.add_argument("addresses", nargs="+", metavar="address")
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="Language of the message (default: %(default)s).",
        )
        parser.add_argument(
            "--through-worker",
            action="store_true",
            help="Queue the message for the Celery worker instead of sending it from here.",
        )

    def handle(self, *args, addresses, language, through_worker, **options):
        context = {
            "requested_at": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S %Z"),
            "requested_on": socket.gethostname(),
        }
        recipients = ", ".join(addresses)
        if through_worker:
            queue = settings.CELERY_TASK_DEFAULT_QUEUE
            try:
                result = send_templated_email.delay(TEMPLATE, addresses, context, language)
            except OperationalError as error:
                raise CommandError(
                    f"Could not queue the message: the broker said {error}"
                ) from None
            self.stdout.write(
                f"Queued for {recipients} on the queue {queue!r} (task {result.id}). "
                "If it does not arrive, read the worker's log."
            )
            return
        try:
            emails.send_email(TEMPLATE, to=addresses, context=context, language=language)
        except (smtplib.SMTPException, OSError) as error:
            raise CommandError(
                f"Could not send through {describe_mailer()}: {type(error).__name__}: {error}"
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Sent to {recipients} through {describe_mailer()}."))


def describe_mailer() -> str:
    mailer = settings.MAILERS.get("default", {})
    backend = mailer.get("BACKEND", "")
    options = mailer.get("OPTIONS", {})
    if backend.endswith("smtp.EmailBackend"):
        security = (
            " (TLS)" if options.get("use_ssl") else " (STARTTLS)" if options.get("use_tls") else ""
        )
        return f"the SMTP server {options.get('host')}:{options.get('port')}{security}"
    return backend
