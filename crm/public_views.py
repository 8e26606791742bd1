"""Pages of the public site (sede electrónica): no login, the public frame (public/base.html).

Verification of issued documents: anyone with a document's secure verification code sees what
was issued under it (kind, title, date and time, SHA-256) and can download the copy kept by the
body, to compare it with theirs. Attempts are limited per client address (a fixed window in the
cache) against guessing; codes that match no document are logged as warnings.
"""

from __future__ import annotations

import logging

from django import forms
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.audit import client_ip
from crm.documents import display_code, find_document, normalise_code

logger = logging.getLogger(__name__)

ATTEMPTS_LIMIT = 30  # verifications and downloads per client address ...
ATTEMPTS_WINDOW = 10 * 60  # ... in this many seconds
_ATTEMPTS_KEY = "sede:verify-attempts:{ip}"


def attempts_key(ip: str | None) -> str:
    return _ATTEMPTS_KEY.format(ip=ip or "unknown")


def _allow_attempt(request: HttpRequest) -> bool:
    """Count one attempt of the client; False once it is over the limit of the window."""
    key = attempts_key(client_ip(request))
    cache.add(key, 0, timeout=ATTEMPTS_WINDOW)  # the window starts at the first attempt
    try:
        attempts = cache.incr(key)
    except ValueError:  # the window ended between add() and incr()
        cache.set(key, 1, timeout=ATTEMPTS_WINDOW)
        attempts = 1
    return attempts <= ATTEMPTS_LIMIT


def _too_many_attempts(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "public/too_many_attempts.html",
        {"minutes": ATTEMPTS_WINDOW // 60},
        status=429,
    )
    response["Retry-After"] = str(ATTEMPTS_WINDOW)
    return response


class VerificationForm(forms.Form):
    code = forms.CharField(
        label=_("Secure verification code"),
        max_length=64,
        help_text=_(
            "The 16 letters and digits printed at the foot of every page of the document, "
            "e.g. ABCD-EFGH-JKMN-PQRS. Capitals, spaces and dashes do not matter."
        ),
        error_messages={"required": _("Type the code printed on the document.")},
    )

    def clean_code(self) -> str:
        code = normalise_code(self.cleaned_data["code"])
        if code is None:
            raise forms.ValidationError(
                _(
                    "This is not a verification code: it has 16 letters and digits, like "
                    "ABCD-EFGH-JKMN-PQRS (no 0, O, 1, I or L). Check that you typed it in full."
                ),
                code="malformed",
            )
        return code


@require_GET
def verify_document(request: HttpRequest) -> HttpResponse:
    """The form (GET, so that the QR code's link shows the document at once) and its answer."""
    if "code" not in request.GET:
        return render(request, "public/verify_document.html", {"form": VerificationForm()})
    if not _allow_attempt(request):
        return _too_many_attempts(request)
    form = VerificationForm(request.GET)
    document = None
    if form.is_valid():
        document = find_document(form.cleaned_data["code"])
        if document is None:
            logger.warning(
                "Verification of an unknown code %s from %s",
                display_code(form.cleaned_data["code"]),
                client_ip(request) or "-",
            )
            form.add_error(
                "code",
                forms.ValidationError(
                    _(
                        "No document has been issued with this code. Check it against the "
                        "document: it is printed at the foot of every page."
                    ),
                    code="unknown",
                ),
            )
    return render(request, "public/verify_document.html", {"form": form, "document": document})


@require_GET
def download_document(request: HttpRequest, code: str) -> HttpResponse:
    """The PDF kept for ``code``, byte for byte as it was issued."""
    if not _allow_attempt(request):
        return _too_many_attempts(request)
    document = find_document(code)
    if document is None:
        logger.warning(
            "Download asked for an unknown code %r from %s", code[:64], client_ip(request) or "-"
        )
        return render(request, "public/document_not_found.html", status=404)
    # Read whole (issued PDFs are small): nothing stays open if the client goes away.
    with document.file.open("rb") as stored:
        content = stored.read()
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{document.display_code}.pdf"
    )
    response["Cache-Control"] = "private, no-store"
    return response
