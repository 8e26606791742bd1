"""Issued documents with a secure verification code (CSV, "código seguro de verificación").

``issue_document`` gives a document its code first, renders its PDF (``crm.pdf.render_pdf``)
with the code, the public verification address and a QR code of that address in the footer of
every page, keeps the PDF and its SHA-256 in the database, and writes the audit trail. Anyone
holding the code can then check the document at ``/sede/verificar/`` and download the copy kept
here to compare it with theirs (crm.public_views).

The code is 16 characters from an alphabet without look-alikes (no 0/O, 1/I/L), drawn with
``secrets``: 31**16, about 2**79 codes, so guessing one is hopeless even without the public page's
rate limit. It is stored bare (``ABCDEFGHJKMNPQRS``) and printed in groups of four
(``ABCD-EFGH-JKMN-PQRS``); ``normalise_code`` accepts what people type (any case, spaces or
dashes anywhere). docs/registry.md describes the format and the verification flow.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from typing import Any

import qrcode
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.urls import reverse
from django.utils import translation
from qrcode.constants import ERROR_CORRECT_M

from crm.audit import log_event, object_label
from crm.models import AuditAction, DocumentKind, IssuedDocument
from crm.pdf import render_pdf

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 16
CODE_GROUP = 4
_SEPARATORS = re.compile(r"[\s\-_.]+")
_CODE = re.compile(f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
# The QR code: error correction M (15 %) survives a stained or creased paper; each module is a
# few pixels, drawn without smoothing (CSS image-rendering: pixelated) so that it prints sharp.
QR_ERROR_CORRECTION = ERROR_CORRECT_M
QR_BOX_SIZE = 4
QR_BORDER = 4


def new_verification_code() -> str:
    """A fresh random code, bare (no dashes)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _position in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """The bare code in ``text`` (any case; spaces and dashes anywhere), or None when ``text``
    cannot be a code (wrong length, or characters outside the alphabet)."""
    code = _SEPARATORS.sub("", text or "").upper()
    return code if _CODE.match(code) else None


def display_code(code: str) -> str:
    """``ABCDEFGHJKMNPQRS`` → ``ABCD-EFGH-JKMN-PQRS``."""
    return "-".join(code[start : start + CODE_GROUP] for start in range(0, len(code), CODE_GROUP))


def verification_page_url() -> str:
    """The public page where any code can be typed in (printed on every page)."""
    return settings.PUBLIC_BASE_URL + reverse("verify_document")


def verification_url(code: str) -> str:
    """The public page showing the document of ``code`` (what the QR code holds)."""
    return f"{verification_page_url()}?code={display_code(code)}"


def qr_data_uri(data: str) -> str:
    """A QR code of ``data`` as a PNG ``data:`` URI, for an ``<img>`` in a PDF template."""
    qr = qrcode.QRCode(error_correction=QR_ERROR_CORRECTION, box_size=QR_BOX_SIZE, border=QR_BORDER)
    qr.add_data(data)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def verification_context(*, code: str, title: str) -> dict[str, str]:
    """What ``pdf/base.html`` prints in every page's footer as ``verification``."""
    return {
        "code": display_code(code),
        "title": title,
        "url": verification_page_url(),
        "qr": qr_data_uri(verification_url(code)),
    }


def _unused_code() -> str:
    # 2**79 codes: a collision is practically impossible, and the unique constraint backs this.
    while True:
        code = new_verification_code()
        if not IssuedDocument.objects.filter(verification_code=code).exists():
            return code


def _language(language: str | None) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    wanted = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    if wanted in codes:
        return wanted
    base = wanted.split("-")[0]
    if base in codes:
        return base
    raise ValueError(f"Documents are issued in {codes}; got {language!r}.")


@transaction.atomic
def issue_document(
    *,
    kind: DocumentKind | str,
    title: str,
    template_name: str,
    context: dict[str, Any],
    related: models.Model | None = None,
    actor=None,
    language: str | None = None,
) -> IssuedDocument:
    """Issue a PDF of ``template_name`` (a template extending ``pdf/base.html``) with a new
    verification code, keep it, and audit it.

    ``related`` is the record the document belongs to (a case, a quote...); ``actor`` the user
    issuing it, or None for documents the system issues on its own (a receipt of a public
    filing). ``language`` defaults to the active one. The template gets ``context`` plus
    ``document_title``, ``verification_code`` and ``verification`` (printed by the base).

    Rendering takes a moment: do not call this while holding a registry counter's lock (see
    crm.registry); issue receipts right after the filing's transaction commits.
    """
    kind = DocumentKind(kind)
    language = _language(language)
    code = _unused_code()
    with translation.override(language):
        pdf = render_pdf(
            template_name,
            {
                **context,
                "document_title": title,
                "verification_code": display_code(code),
                "verification": verification_context(code=code, title=title),
            },
        )
    document = IssuedDocument(
        verification_code=code,
        kind=kind,
        title=title,
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        issued_by=actor if getattr(actor, "is_authenticated", False) else None,
        object_type=object_label(related) if related is not None else "",
        object_id=str(related.pk) if related is not None else "",
        language=language,
    )
    # Written before the row: should the transaction roll back, the file stays behind unused
    # (never reachable: only a committed row's code leads to it).
    document.file.save("document.pdf", ContentFile(pdf), save=False)
    document.save(force_insert=True)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=document,
        changes={
            "kind": kind.value,
            "title": title,
            "sha256": document.sha256,
            "size": document.size,
            "language": language,
            "related": f"{document.object_type}:{document.object_id}" if related else "",
        },
    )
    return document


def find_document(text: str) -> IssuedDocument | None:
    """The issued document of a code as typed (None: malformed or not issued)."""
    code = normalise_code(text)
    if code is None:
        return None
    return IssuedDocument.objects.filter(verification_code=code).first()
