"""The citizen's side of cases on the public site (sede electrónica): no account, the public
frame (public/base.html).

- ``index``: the case types offered (``CaseType.public``), tracking, verification, accessibility.
- ``case_form``: one form per type; files through ``cases.services.case_file`` (which matches the
  person by document or email), keeps the case and its tracking secret in the session and
  redirects (POST/redirect/GET) to ``receipt``.
- ``receipt``: the registry entry as filed; the PDF receipt's link appears once the worker has
  issued it (htmx asks every two seconds; a plain link reloads without JavaScript).
- ``tracking``: registry number plus tracking secret open the case for the rest of the session:
  status, deadline, the public history and answer, and the reply form while the case waits for
  the citizen (``case_citizen_reply``).
- ``accessibility``: the accessibility statement (RD 1112/2018) and a form to report a barrier,
  filed as a case of the (non-public) type ``ACCESSIBILITY_TYPE``.

Anti-abuse (cases.antiabuse): honeypot and minimum fill time in the forms, submissions and
tracking attempts limited per client address (429 with ``Retry-After``), and uploads checked by
content (cases.uploads), with ``CappedUploadHandler`` so that oversized files never land whole.
"""

from __future__ import annotations

import logging
import math
from datetime import date

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from crm.audit import client_ip

from .antiabuse import FILINGS, TRACKING
from .clock import business_days_left
from .models import Case, CaseEntry, CaseKind, CaseStatus, CaseType, Hearing
from .public_forms import BarrierReportForm, CaseFilingForm, ReplyForm, TrackingForm
from .services import (
    Filing,
    case_citizen_reply,
    case_file,
    check_tracking_secret,
    display_secret,
)
from .uploads import CappedUploadHandler

logger = logging.getLogger(__name__)

SESSION_FILING = "cases_public.filing"  # {"case": pk, "secret": tracking secret}: the receipt
SESSION_TRACKING = "cases_public.tracking"  # pk of the case opened on the tracking page
ACCESSIBILITY_TYPE = "accesibilidad"  # the case type of barrier reports (migration 0004)
# When the accessibility statement was last reviewed (update it with each evaluation).
ACCESSIBILITY_REVIEWED_ON = date(2026, 11, 22)


def _too_many(request: HttpRequest, wait: int, *, what: str) -> HttpResponse:
    logger.warning("Public site: %s over the limit from %s", what, client_ip(request) or "-")
    response = render(
        request,
        "cases/public/too_many_requests.html",
        {"minutes": max(1, math.ceil(wait / 60)), "what": what},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def _capped_uploads(view):
    """Read the request's files through ``CappedUploadHandler`` (set before CSRF reads the
    body: Django's documented way is an exempt outer view around a protected one)."""
    protected = csrf_protect(view)

    @csrf_exempt
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            request.upload_handlers = [CappedUploadHandler(request)]
        return protected(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _skipped_files(request: HttpRequest) -> list[tuple[str, str]]:
    handlers = [h for h in request.upload_handlers if isinstance(h, CappedUploadHandler)]
    return handlers[0].skipped if handlers else []


def _grant_tracking(request: HttpRequest, case: Case) -> None:
    """The case opens in this session from now on; the session gets a new key first, so that a
    session id planted on the citizen's browser beforehand does not open it too."""
    request.session.cycle_key()
    request.session[SESSION_TRACKING] = case.pk


def _remember_filing(request: HttpRequest, filing: Filing) -> None:
    _grant_tracking(request, filing.case)
    request.session[SESSION_FILING] = {"case": filing.case.pk, "secret": filing.tracking_secret}


def _log_refusal(request: HttpRequest, form) -> None:
    if getattr(form, "refused_as_robot", False):
        codes = [error.code for error in form.errors.as_data().get("__all__", [])]
        logger.warning(
            "Public form refused (%s) from %s", ",".join(map(str, codes)), client_ip(request) or "-"
        )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    case_types = CaseType.objects.filter(public=True)
    return render(request, "cases/public/index.html", {"case_types": case_types})


@_capped_uploads
@require_http_methods(["GET", "POST"])
def case_form(request: HttpRequest, code: str) -> HttpResponse:
    """The form of one case type."""
    case_type = get_object_or_404(CaseType, code=code, public=True)
    no_hearing = (
        case_type.kind == CaseKind.HEARING
        and not Hearing.objects.open_on(timezone.localdate()).exists()
    )
    if request.method == "POST" and not no_hearing:
        wait = FILINGS.hit(request)
        if wait:
            return _too_many(request, wait, what="filings")
        form = CaseFilingForm(
            request.POST,
            request.FILES,
            case_type=case_type,
            skipped_files=_skipped_files(request),
        )
        if form.is_valid():
            try:
                filing = case_file(**form.filing_arguments())
            except ValidationError as error:
                form.add_service_error(error)
            else:
                _remember_filing(request, filing)
                return redirect("cases_public:receipt")
        _log_refusal(request, form)
    else:
        form = CaseFilingForm(
            case_type=case_type, initial={"campaign_code": request.GET.get("campaign", "")[:60]}
        )
    return render(
        request,
        "cases/public/form.html",
        {"case_type": case_type, "form": form, "no_hearing": no_hearing},
    )


@require_GET
def receipt(request: HttpRequest) -> HttpResponse:
    """The receipt of the filing made in this session (htmx: the document's part alone)."""
    filed = request.session.get(SESSION_FILING) or {}
    case = (
        Case.objects.select_related("case_type", "subject_area", "hearing", "receipt")
        .filter(pk=filed.get("case"))
        .first()
        if filed.get("case")
        else None
    )
    context = {"case": case}
    if case is not None:
        context.update(
            secret=display_secret(filed.get("secret", "")),
            email=(case.filer or {}).get("email", ""),
            attachments=list(case.attachments.values_list("name", "size")),
        )
    if case is not None and request.headers.get("HX-Request") and request.GET.get("part"):
        response = render(request, "cases/public/_receipt_document.html", context)
        if case.receipt_id:
            response.status_code = 286  # htmx: stop polling
        return response
    return render(request, "cases/public/receipt.html", context)


def _tracked_case(request: HttpRequest) -> Case | None:
    pk = request.session.get(SESSION_TRACKING)
    if not pk:
        return None
    public_entries = CaseEntry.objects.filter(public=True).prefetch_related("attachments")
    return (
        Case.objects.select_related(
            "case_type", "subject_area", "hearing", "receipt", "answer_document"
        )
        .prefetch_related(Prefetch("entries", queryset=public_entries, to_attr="public_entries"))
        .filter(pk=pk)
        .first()
    )


@_capped_uploads
@require_http_methods(["GET", "POST"])
def tracking(request: HttpRequest) -> HttpResponse:
    """Open a case with its registry number and tracking secret; see it; reply when asked."""
    case = _tracked_case(request)
    action = request.POST.get("action", "open") if request.method == "POST" else ""
    form = TrackingForm()
    reply_form = ReplyForm() if case is not None and case.status == CaseStatus.WAITING else None

    if action == "forget":
        request.session.pop(SESSION_TRACKING, None)
        messages.info(request, _("The case is closed on this device."))
        return redirect("cases_public:tracking")

    if action == "reply" and case is None:
        messages.error(request, _("Open your case again to reply: type its number and secret."))
        return redirect("cases_public:tracking")

    if action == "reply":
        wait = FILINGS.hit(request)
        if wait:
            return _too_many(request, wait, what="replies")
        reply_form = ReplyForm(request.POST, request.FILES, skipped_files=_skipped_files(request))
        if case.status != CaseStatus.WAITING:
            messages.error(request, _("This case is not waiting for a reply any more."))
            return redirect("cases_public:tracking")
        if reply_form.is_valid():
            try:
                case_citizen_reply(
                    case=case, text=reply_form.cleaned_data["text"], uploads=reply_form.uploads
                )
            except ValidationError as error:
                reply_form.add_service_error(error)
            else:
                messages.success(
                    request, _("Your reply has been received. The case is being handled again.")
                )
                return redirect("cases_public:tracking")

    elif action == "open":
        wait = TRACKING.hit(request)
        if wait:
            return _too_many(request, wait, what="tracking")
        form = TrackingForm(request.POST)
        if form.is_valid():
            found = Case.objects.filter(
                registry_number=form.cleaned_data["registry_number"]
            ).first()
            if found is not None and check_tracking_secret(found, form.cleaned_data["secret"]):
                _grant_tracking(request, found)
                return redirect("cases_public:tracking")
            logger.warning(
                "Tracking: wrong registry number or secret from %s", client_ip(request) or "-"
            )
            form.add_error(
                None,
                ValidationError(
                    _(
                        "No case matches this registry number and tracking secret. Check both "
                        "against your receipt."
                    ),
                    code="no_match",
                ),
            )
        case = None  # opening another case: show the form with its errors, not the old case

    context = {"form": form, "case": case, "reply_form": reply_form}
    if case is not None:
        context.update(
            days_left=business_days_left(case),
            entries=case.public_entries,
        )
    return render(request, "cases/public/tracking.html", context)


@require_http_methods(["GET", "POST"])
def accessibility(request: HttpRequest) -> HttpResponse:
    """The accessibility statement and the channel to report barriers."""
    case_type = CaseType.objects.filter(code=ACCESSIBILITY_TYPE).first()
    if request.method == "POST" and case_type is not None:
        wait = FILINGS.hit(request)
        if wait:
            return _too_many(request, wait, what="barrier reports")
        form = BarrierReportForm(request.POST)
        if form.is_valid():
            try:
                filing = case_file(**form.filing_arguments(case_type))
            except ValidationError as error:
                form.add_service_error(error)
            else:
                _remember_filing(request, filing)
                return redirect("cases_public:receipt")
        _log_refusal(request, form)
    else:
        form = BarrierReportForm()
    return render(
        request,
        "cases/public/accessibility.html",
        {
            "form": form if case_type is not None else None,
            "case_type": case_type,
            "reviewed_on": ACCESSIBILITY_REVIEWED_ON,
        },
    )
