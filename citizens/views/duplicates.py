"""Possible duplicate people: the review queue, the side-by-side review, merge and dismiss.

Everything here needs ``citizens.manage``. The scan itself (citizens.dedupe) runs nightly in
Celery; "scan now" queues it. The review page shows both people's personal data: a read in the
audit trail for each (ENS).
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from citizens import dedupe
from citizens.models import (
    CustomField,
    DuplicatePair,
    EmailAddress,
    Person,
    PhoneNumber,
    PostalAddress,
)
from citizens.services import record_read
from citizens.validation import display_phone
from crm.pagination import keyset_page
from crm.permissions import permission_required

MANAGE = "citizens.manage"
PER_PAGE = 25
ORDERING = ["-score", "-id"]
CONTACT_KEYS = {model._meta.label_lower for model in (EmailAddress, PhoneNumber, PostalAddress)}
SIDES = [("a", gettext_lazy("Record A")), ("b", gettext_lazy("Record B"))]


@dataclass(frozen=True)
class ReviewRow:
    """One field of the review: both values and which one the form proposes."""

    name: str  # the key of person_merge's choices
    input_name: str  # the form field (custom keys have a colon, not welcome in HTML ids)
    label: str
    value_a: str
    value_b: str
    proposed: str  # "a" or "b"

    @property
    def same(self) -> bool:
        return self.value_a == self.value_b


def review_rows(a: Person, b: Person) -> list[ReviewRow]:
    """Every field the reviewer chooses, with A as the proposed survivor: A's value unless it
    is empty and B's is not."""
    definitions = {
        definition.key: definition
        for definition in CustomField.objects.filter(applies_to=CustomField.Applies.PERSON)
    }
    rows = []
    for merge_field in dedupe.merge_fields(a, b):
        definition = definitions.get(merge_field.custom_key)
        rows.append(
            ReviewRow(
                name=merge_field.name,
                input_name="field-" + merge_field.name.replace(":", "--"),
                label=str(merge_field.label),
                value_a=merge_field.display(a, definition),
                value_b=merge_field.display(b, definition),
                proposed="a" if dedupe.default_side(merge_field, a, b) == "survivor" else "b",
            )
        )
    return rows


class MergeForm(forms.Form):
    survivor = forms.ChoiceField(choices=SIDES, label=gettext_lazy("Record that remains"))

    def __init__(self, *args, rows: list[ReviewRow], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            self.fields[row.input_name] = forms.ChoiceField(choices=SIDES, label=row.label)

    def choices(self) -> tuple[str, dict[str, dedupe.Side]]:
        """Which record remains ("a"/"b") and, per field, "survivor" or "other"."""
        survivor = self.cleaned_data["survivor"]
        return survivor, {
            row.name: "survivor" if self.cleaned_data[row.input_name] == survivor else "other"
            for row in self.rows
        }


def _contacts(people: list[Person]) -> dict[int, dict[str, list]]:
    """Each person's emails, phones and addresses: three queries for both."""
    contacts: dict[int, dict[str, list]] = {
        person.pk: {"emails": [], "phones": [], "addresses": []} for person in people
    }
    ids = list(contacts)
    for key, model, flag in (
        ("emails", EmailAddress, "is_primary"),
        ("phones", PhoneNumber, "is_primary"),
        ("addresses", PostalAddress, "is_notification"),
    ):
        for row in model.objects.filter(person_id__in=ids).order_by("-" + flag, "id"):
            if key == "phones":
                row.display = display_phone(row.number)
            contacts[row.person_id][key].append(row)
    return contacts


def _open_pair(pk: int) -> DuplicatePair:
    return get_object_or_404(
        DuplicatePair.objects.select_related("person_a", "person_b", "rule"), pk=pk
    )


def _decided_already(request: HttpRequest, pair: DuplicatePair) -> HttpResponse | None:
    """Back to the queue, saying why, when the pair cannot be reviewed any more."""
    if pair.status != DuplicatePair.Status.OPEN:
        messages.info(request, _("This pair has already been decided."))
        return redirect("citizens:duplicate_list")
    for person in (pair.person_a, pair.person_b):
        if person.blocked_at or person.merged_into_id:
            messages.info(
                request,
                _("One of these records was blocked or merged since the scan: nothing to review."),
            )
            return redirect("citizens:duplicate_list")
    return None


@require_GET
@permission_required(MANAGE)
def duplicate_list(request: HttpRequest) -> HttpResponse:
    page = keyset_page(
        dedupe.open_pairs().select_related("person_a", "person_b", "rule"),
        ordering=ORDERING,
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    return render(request, "citizens/duplicate_list.html", {"page": page})


@require_POST
@permission_required(MANAGE)
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    from citizens.tasks import find_duplicates

    transaction.on_commit(find_duplicates.delay)
    messages.success(
        request,
        _(
            "The search for duplicates has started. It takes a few minutes; the pairs it finds "
            "will appear in this list."
        ),
    )
    return redirect("citizens:duplicate_list")


@require_GET
@permission_required(MANAGE)
def duplicate_review(request: HttpRequest, pk: int) -> HttpResponse:
    pair = _open_pair(pk)
    if (response := _decided_already(request, pair)) is not None:
        return response
    a, b = pair.person_a, pair.person_b
    for person in (a, b):
        record_read(actor=request.user, obj=person, what="duplicates")
    contacts = _contacts([a, b])
    counts_a, counts_b = dedupe.related_counts(a), dedupe.related_counts(b)
    related = [  # contact data is listed in full above the counts
        (label, count_a, count_b)
        for (key, label, count_a), (_key, _label, count_b) in zip(counts_a, counts_b, strict=True)
        if key not in CONTACT_KEYS
    ]
    context = {
        "pair": pair,
        "a": a,
        "b": b,
        "rows": review_rows(a, b),
        "contacts_a": contacts[a.pk],
        "contacts_b": contacts[b.pk],
        "related": related,
    }
    return render(request, "citizens/duplicate_review.html", context)


@require_POST
@permission_required(MANAGE)
def duplicate_merge(request: HttpRequest, pk: int) -> HttpResponse:
    pair = _open_pair(pk)
    if (response := _decided_already(request, pair)) is not None:
        return response
    a, b = pair.person_a, pair.person_b
    form = MergeForm(request.POST, rows=review_rows(a, b))
    if not form.is_valid():
        messages.error(request, _("Choose the record that remains and a value for every field."))
        return redirect("citizens:duplicate_review", pk=pair.pk)
    side, choices = form.choices()
    survivor, other = (a, b) if side == "a" else (b, a)
    try:
        result = dedupe.person_merge(
            survivor=survivor, other=other, choices=choices, actor=request.user
        )
    except dedupe.MergeError as error:
        messages.error(request, str(error))
        return redirect("citizens:duplicate_review", pk=pair.pk)
    except ValidationError as error:
        messages.error(
            request,
            _("The merged record would not be valid: %(errors)s")
            % {"errors": " ".join(error.messages)},
        )
        return redirect("citizens:duplicate_review", pk=pair.pk)
    messages.success(
        request,
        _("%(other)s (record %(other_id)s) has been merged into %(survivor)s (record %(id)s).")
        % {
            "other": other,
            "other_id": other.pk,
            "survivor": result.survivor,
            "id": result.survivor.pk,
        },
    )
    return redirect("citizens:duplicate_list")


@require_POST
@permission_required(MANAGE)
def duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    pair = _open_pair(pk)
    if pair.status != DuplicatePair.Status.OPEN:
        messages.info(request, _("This pair has already been decided."))
        return redirect("citizens:duplicate_list")
    dedupe.pair_dismiss(pair=pair, actor=request.user)
    messages.success(
        request,
        _("%(a)s and %(b)s are marked as different people; this pair will not be proposed again.")
        % {"a": pair.person_a, "b": pair.person_b},
    )
    return redirect("citizens:duplicate_list")
