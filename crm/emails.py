"""Every email the CRM sends is built here, from a template triplet under ``templates/emails/``:

``<name>-subject.txt``  one line (whitespace is collapsed)
``<name>-body.txt``     the plain-text part
``<name>-body.html``    the HTML part

All three are rendered in the recipient's language. The text parts are rendered without HTML
escaping (they are not HTML); the HTML part is escaped as usual. Every template gets
``site_name`` and ``body_name`` besides the given context. Sending goes through Django's
mailers (``settings.MAILERS``); Celery code queues ``crm.tasks.send_templated_email``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import translation


class Attachment(NamedTuple):
    filename: str
    content: bytes | str
    mimetype: str


def _render_text(template_name: str, context: Mapping[str, Any]) -> str:
    template = get_template(template_name).template  # the engine's own Template
    return template.render(Context(dict(context), autoescape=False))


def build_email(
    name: str,
    *,
    to: Sequence[str],
    context: Mapping[str, Any] | None = None,
    language: str | None = None,
    attachments: Sequence[Attachment | tuple[str, bytes | str, str]] = (),
    headers: Mapping[str, str] | None = None,
    from_email: str | None = None,
    reply_to: Sequence[str] = (),
) -> EmailMultiAlternatives:
    """The message ``emails/<name>-*`` rendered in ``language`` (default: LANGUAGE_CODE)."""
    language = language or settings.LANGUAGE_CODE
    data = {"site_name": settings.SITE_NAME, "body_name": settings.BODY_NAME, **(context or {})}
    with translation.override(language):
        subject = " ".join(_render_text(f"emails/{name}-subject.txt", data).split())
        text = _render_text(f"emails/{name}-body.txt", data)
        html = render_to_string(f"emails/{name}-body.html", data)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=from_email,
        to=list(to),
        reply_to=list(reply_to),
        headers={"Content-Language": language, **(headers or {})},
    )
    message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    return message


def send_email(
    name: str,
    *,
    to: Sequence[str],
    context: Mapping[str, Any] | None = None,
    language: str | None = None,
    attachments: Sequence[Attachment | tuple[str, bytes | str, str]] = (),
    headers: Mapping[str, str] | None = None,
    from_email: str | None = None,
    reply_to: Sequence[str] = (),
    using: str = "default",
) -> int:
    """Build ``emails/<name>-*`` and send it through the mailer ``using``; SMTP errors raise."""
    message = build_email(
        name,
        to=to,
        context=context,
        language=language,
        attachments=attachments,
        headers=headers,
        from_email=from_email,
        reply_to=reply_to,
    )
    return message.send(using=using)
