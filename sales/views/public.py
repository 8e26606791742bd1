"""The public interest form (sede electrónica, no login): a company, association or person
tells the body what they are interested in and becomes a lead for the promotion team.

Protected like the public site's other forms (cases.antiabuse): a honeypot field, and
submissions limited per client address (429 with ``Retry-After``)."""

from __future__ import annotations

import math

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from cases.antiabuse import FILINGS

from ..forms import PublicInterestForm
from ..models import LeadSource
from ..services import lead_create

SESSION_KEY = "sales_public.lead"


@require_http_methods(["GET", "POST"])
def interest_form(request: HttpRequest) -> HttpResponse:
    form = PublicInterestForm(request.POST or None)
    if request.method == "POST":
        wait = FILINGS.hit(request)
        if wait is not None:
            response = render(
                request,
                "cases/public/too_many_requests.html",
                {"minutes": max(1, math.ceil(wait / 60)), "what": "interest"},
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        if form.is_valid():
            data = form.cleaned_data
            lead = lead_create(
                actor=None,
                source=LeadSource.WEB_FORM,
                given_name=data["given_name"],
                surnames=data["surnames"],
                organization_name=data["organization_name"],
                tax_id=data["tax_id"],
                email=data["email"],
                phone=data["phone"],
                interest=data["interest"],
                language=(get_language() or "es")[:10],
            )
            request.session[SESSION_KEY] = lead.pk
            return redirect("sales_public:thanks")
    return render(
        request,
        "sales/public/interest_form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    if SESSION_KEY not in request.session:
        return redirect("sales_public:interest")
    return render(request, "sales/public/thanks.html")
