"""Target publics: segments (the rule editor, its live count and a preview of members) and static
lists (uploaded or frozen)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from citizens.import_files import ImportFileError
from crm.pagination import keyset_page
from crm.permissions import module_required

from .. import segments, services
from ..forms import FreezeForm, RulesData, SegmentForm, StaticListUploadForm, editor_choices
from ..models import Segment, StaticList
from .common import manage_required, may_manage

MEMBERS_PER_PAGE = 50
MEMBER_ORDERING = ["first_surname", "second_surname", "given_name", "id"]  # person_name_order
MEMBER_FIELDS = (
    "id",
    "given_name",
    "first_surname",
    "second_surname",
    "birth_date",
    "municipalities",
)


@require_GET
@module_required("campaigns")
def target_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "campaigns/target_list.html",
        {
            "segments": Segment.objects.for_user(request.user),
            "static_lists": StaticList.objects.for_user(request.user)[:200],
            "may_manage": may_manage(request),
        },
    )


def _editor(request, *, form, rules: RulesData, segment=None, errors=(), status=200):
    groups = rules.groups()
    # One blank condition in each group and a blank group: the editor grows without JS.
    for group in groups:
        group["conditions"].append({})
    groups.append({"op": "and", "conditions": [{}]})
    count = None
    if not errors:
        try:
            count = segments.count(segments.clean_rules(rules.rules))
        except ValidationError as error:
            errors = error.messages
    return render(
        request,
        "campaigns/segment_form.html",
        {
            "form": form,
            "segment": segment,
            "groups": groups,
            "top_op": rules.rules.get("op", "and"),
            "rule_errors": list(errors),
            "count": count,
            **editor_choices(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@manage_required
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_user(request.user), pk=pk) if pk else None
    if request.method != "POST":
        form = SegmentForm(
            initial={"name": segment.name, "description": segment.description} if segment else None
        )
        return _editor(
            request, form=form, rules=RulesData(segment.rules if segment else {}), segment=segment
        )
    form = SegmentForm(request.POST)
    rules = RulesData.from_post(request.POST)
    errors: list[str] = []
    try:
        cleaned = segments.clean_rules(rules.rules)
    except ValidationError as error:
        errors = error.messages
        cleaned = None
    if "refresh" in request.POST or not form.is_valid() or cleaned is None:
        return _editor(request, form=form, rules=rules, segment=segment, errors=errors)
    segment = services.segment_save(
        actor=request.user,
        segment=segment,
        name=form.cleaned_data["name"],
        description=form.cleaned_data["description"],
        rules=cleaned,
    )
    messages.success(request, _("The segment has been saved."))
    return redirect("campaigns:segment", segment.pk)


@require_POST
@manage_required
def segment_count(request: HttpRequest) -> HttpResponse:
    """The live count while editing (htmx): how many people the rules as typed match now."""
    rules = RulesData.from_post(request.POST)
    try:
        cleaned = segments.clean_rules(rules.rules)
    except ValidationError as error:
        return render(request, "campaigns/_segment_count.html", {"errors": error.messages})
    return render(request, "campaigns/_segment_count.html", {"count": segments.count(cleaned)})


def _members_page(request: HttpRequest, people):
    return keyset_page(
        people.only(*MEMBER_FIELDS),
        ordering=MEMBER_ORDERING,
        cursor=request.GET.get("cursor"),
        per_page=MEMBERS_PER_PAGE,
    )


@require_GET
@module_required("campaigns")
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The segment's rules, its members now (keyset pages) and how many they are."""
    segment = get_object_or_404(Segment.objects.for_user(request.user), pk=pk)
    return render(
        request,
        "campaigns/segment_detail.html",
        {
            "segment": segment,
            "page": _members_page(request, segments.members(segment)),
            "count": segments.count(segment.rules),
            "groups": RulesData(segment.rules).groups(),
            "top_op": segment.rules.get("op", "and"),
            "freeze_form": FreezeForm(),
            "may_manage": may_manage(request),
            **editor_choices(),
        },
    )


@require_POST
@manage_required
def segment_freeze(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_user(request.user), pk=pk)
    form = FreezeForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else ""
    static_list = services.segment_freeze(segment=segment, actor=request.user, name=name)
    messages.success(
        request,
        _("The list “%(name)s” holds the segment's %(n)s members of now.")
        % {"name": static_list.name, "n": static_list.size},
    )
    return redirect("campaigns:list", static_list.pk)


@require_POST
@manage_required
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_user(request.user), pk=pk)
    try:
        services.segment_delete(segment=segment, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("campaigns:segment", pk)
    messages.success(request, _("The segment has been deleted."))
    return redirect("campaigns:targets")


@require_http_methods(["GET", "POST"])
@manage_required
def static_list_upload(request: HttpRequest) -> HttpResponse:
    form = StaticListUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            static_list = services.static_list_upload(
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                file=upload,
                filename=upload.name,
            )
        except ImportFileError as error:
            form.add_error("file", str(error))
        else:
            messages.success(
                request,
                _("The list holds %(n)s people; %(rejected)s rows were not used.")
                % {"n": static_list.size, "rejected": len(static_list.rejected)},
            )
            return redirect("campaigns:list", static_list.pk)
    return render(request, "campaigns/static_list_form.html", {"form": form})


@require_GET
@module_required("campaigns")
def static_list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    static_list = get_object_or_404(StaticList.objects.for_user(request.user), pk=pk)
    return render(
        request,
        "campaigns/static_list_detail.html",
        {
            "static_list": static_list,
            "page": _members_page(request, segments.list_members(static_list)),
            "may_manage": may_manage(request),
        },
    )


@require_POST
@manage_required
def static_list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    static_list = get_object_or_404(StaticList.objects.for_user(request.user), pk=pk)
    try:
        services.static_list_delete(static_list=static_list, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("campaigns:list", pk)
    messages.success(request, _("The list has been deleted."))
    return redirect("campaigns:targets")
