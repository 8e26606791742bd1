"""One way to make PDFs: an HTML template rendered by WeasyPrint (receipts, answers, exports)."""

from __future__ import annotations

import functools
import ssl
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML, Document
from weasyprint.urls import URLFetcher

# What a document may load: images given inline (data: URIs, e.g. the verification QR code) and
# files of the checkout; never the network, so that nothing typed into a document can make the
# server fetch an address.
ALLOWED_PROTOCOLS = frozenset({"data", "file"})


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # WeasyPrint's default fetcher builds an HTTPS context, reading the system's certificates,
    # for every document: a quarter of a receipt's rendering time. One per process is enough
    # (and it is never used: the network is not an allowed protocol).
    return ssl.create_default_context()


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """The PDF of ``template_name``; templates extend ``pdf/base.html``: the body's name, fonts
    that print every Spanish character (DejaVu Sans, Liberation Sans: scripts/setup.sh installs
    them), "Página X de Y" at the bottom of every page, and, for an issued document
    (``verification`` in the context, see crm.documents), its verification code and QR code in
    every page's footer."""
    return layout_pdf(template_name, context).write_pdf()


def layout_pdf(template_name: str, context: dict[str, Any]) -> Document:
    """The laid-out pages of ``template_name`` before they are written (what ``render_pdf``
    writes): for callers that pick pages, as reports.tabular_pdf does for long tables."""
    context = {"BODY_NAME": settings.BODY_NAME, "SITE_NAME": settings.SITE_NAME, **context}
    html = render_to_string(template_name, context)
    fetcher = URLFetcher(ssl_context=_ssl_context(), allowed_protocols=ALLOWED_PROTOCOLS)
    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=fetcher).render()
