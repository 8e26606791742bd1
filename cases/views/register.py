"""Registering a filing received in person, by phone, letter, email or social network: the same
registry numbering, clock and receipt as the public forms (cases.services.case_file), with the
member of staff as the actor and the channel it came through.

The citizen is picked among existing people (the citizens module's search: document, phone,
email or name) or identified as typed. "Find" submits the form without registering anything:
the page comes back with the matches to pick from and everything typed kept, with or without
JavaScript.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cases.forms import CaseRegisterForm, service_errors
from cases.services import case_file
from crm.calendar import BusinessCalendar
from crm.permissions import module_required

from .queue import user_may_register

FIND = "find_person"


@require_http_methods(["GET", "POST"])
@module_required("cases")
def case_new(request: HttpRequest) -> HttpResponse:
    if not user_may_register(request.user):
        raise PermissionDenied
    today = BusinessCalendar().today()
    if request.method != "POST":
        initial = {"person": request.GET.get("person", "")}
        form = CaseRegisterForm(initial=initial, user=request.user, today=today)
        return render(request, "cases/case_form.html", {"form": form})

    if FIND in request.POST:
        # Only the search: the matches to pick from, what was typed kept, no errors yet.
        typed = request.POST.dict()
        typed.pop("csrfmiddlewaretoken", None)
        form = CaseRegisterForm(initial=typed, user=request.user, today=today)
        return render(request, "cases/case_form.html", {"form": form, "finding": True})
    form = CaseRegisterForm(request.POST, request.FILES, user=request.user, today=today)
    if form.is_valid():
        data = form.cleaned_data
        try:
            filing = case_file(
                case_type=data["case_type"],
                filer=form.filer(),
                subject=data["subject"],
                text=data["text"],
                channel=data["channel"],
                subject_area=data["subject_area"],
                language=data["language"],
                place_address=data["place_address"],
                hearing=data["hearing"],
                uploads=form.uploads(),
                person=form.picked_person,
                unit=data["unit"],
                actor=request.user,
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request,
                _("Case %(number)s has been registered.") % {"number": filing.case.registry_number},
            )
            return redirect("cases:detail", pk=filing.case.pk)
    # A browser never fills a file input again: say so rather than lose them silently.
    files_dropped = bool(request.FILES) and not form.errors.get("attachments")
    return render(
        request, "cases/case_form.html", {"form": form, "files_dropped": files_dropped}, status=400
    )
