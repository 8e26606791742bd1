"""One way to make PDFs: an HTML template rendered by WeasyPrint (receipts, answers, exports)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """The PDF of ``template_name``; templates extend ``pdf/base.html`` (page numbers, body)."""
    context = {"BODY_NAME": settings.BODY_NAME, "SITE_NAME": settings.SITE_NAME, **context}
    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
