"""A person's record: create, edit, the 360° page, logging an interaction, relationships.

Reads of the 360° page are audited (``record_read``); every write goes through the services.
The page costs a fixed number of queries whatever the size of the timeline (keyset-paged).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError
from django.db.models import F, Model, OuterRef, QuerySet
from django.db.models.functions import JSONObject
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from citizens.forms import (
    InteractionForm,
    OrganizationForm,
    PersonForm,
    RecordForms,
    RelationshipForm,
    constraint_error,
    custom_display,
    custom_field_definitions,
    user_units,
)
from citizens.models import (
    Consent,
    ConsentPurpose,
    CustomField,
    EmailAddress,
    Interaction,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
    Team,
)
from citizens.panels import link_related, person_panels
from citizens.services import (
    interaction_log,
    person_create,
    person_update,
    record_read,
    relationship_add,
)
from citizens.validation import clean_phone, display_phone
from crm.pagination import KeysetPage, keyset_page
from crm.permissions import module_required, permission_required

TIMELINE_PER_PAGE = 20
TIMELINE_ORDER = ["-occurred_at", "-id"]
MANAGE = "citizens.manage"
INTERACTION_PREFIX = "interaction"
RELATIONSHIP_PREFIX = "relationship"


# --- Shared with the organisation pages --------------------------------------------------------


def timeline_page(queryset, request: HttpRequest) -> KeysetPage:
    """One page of a timeline, newest first; ``?cursor=`` moves to older interactions."""
    return keyset_page(
        queryset.select_related("staff", "unit"),
        ordering=TIMELINE_ORDER,
        cursor=request.GET.get("cursor"),
        per_page=TIMELINE_PER_PAGE,
    )


def related_label(interaction: Interaction) -> str:
    """What another module's record an interaction belongs to, e.g. "Case 42"."""
    if not interaction.related_type:
        return ""
    try:
        model = apps.get_model(interaction.related_type)
    except (LookupError, ValueError):
        return f"{interaction.related_type} {interaction.related_id}"
    return f"{str(model._meta.verbose_name).capitalize()} {interaction.related_id}"


def decorate_timeline(page: KeysetPage, user=None) -> KeysetPage:
    for interaction in page.items:
        interaction.related_label = related_label(interaction)
    if user is not None:
        link_related(page.items, user)  # links to the modules' records (citizens.panels)
    return page


CONTACT_MODELS = (
    ("emails", EmailAddress, ("id", "address", "label", "is_primary")),
    ("phones", PhoneNumber, ("id", "number", "kind", "label", "is_primary")),
    (
        "addresses",
        PostalAddress,
        (
            "id",
            "street",
            "number",
            "extra",
            "postcode",
            "municipality",
            "province",
            "country",
            "is_notification",
            "label",
        ),
    ),
)


def json_rows(queryset: QuerySet, names: Iterable[str], **related: str) -> ArraySubquery:
    """The rows of a correlated subquery as one array of JSON objects: a record's page reads
    its contact data, relationships and consents in the same query as the record itself."""
    columns = {name: F(name) for name in names}
    columns.update({alias: F(path) for alias, path in related.items()})
    return ArraySubquery(queryset.values(row=JSONObject(**columns)))


def instances(model: type[Model], rows: Iterable[dict[str, Any]] | None) -> list:
    """Unsaved model instances from ``json_rows`` (JSON strings back to dates and times)."""
    built = []
    for row in rows or ():
        values = {}
        for name, value in row.items():
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            values[field.attname] = field.to_python(value) if value is not None else None
        built.append(model(**values))
    return built


def with_contacts(queryset: QuerySet) -> QuerySet:
    owner = "person" if queryset.model is Person else "organization"
    return queryset.annotate(
        **{
            f"{key}_rows": json_rows(
                model.objects.filter(**{owner: OuterRef("pk")}).order_by("id"), names
            )
            for key, model, names in CONTACT_MODELS
        }
    )


def contact_rows(owner: Person | Organization) -> dict[str, list]:
    """The owner's contact data (from ``with_contacts``), main ones first; phones also in
    display format."""
    contacts = {}
    for key, model, _names in CONTACT_MODELS:
        rows = instances(model, getattr(owner, f"{key}_rows"))
        flag = "is_notification" if model is PostalAddress else "is_primary"
        contacts[key] = sorted(rows, key=lambda row, flag=flag: (not getattr(row, flag), row.pk))
    for phone in contacts["phones"]:
        phone.display = display_phone(phone.number)
    return contacts


def custom_rows(owner: Person | Organization, applies_to: str) -> list[tuple[str, str]]:
    """(label, value) of the custom fields the owner has a value for."""
    rows = []
    for definition in custom_field_definitions(applies_to):
        stored = owner.custom.get(definition.key)
        if stored not in (None, ""):
            rows.append((definition.label, custom_display(definition, stored)))
    return rows


def interaction_form(request: HttpRequest, owner: Person | Organization, data=None):
    return InteractionForm(
        data=data,
        user=request.user,
        channel=owner.preferred_channel,
        prefix=INTERACTION_PREFIX,
    )


def action_page(
    request: HttpRequest,
    *,
    title: str,
    form,
    action: str,
    back: str,
    record: Person | Organization,
    submit: str,
) -> HttpResponse:
    """A small form on a page of its own: shown when a form of the 360° page has errors (and
    to anyone who opens its address)."""
    return render(
        request,
        "citizens/record_action_form.html",
        {
            "title": title,
            "form": form,
            "action": action,
            "back": back,
            "record": record,
            "submit": submit,
        },
        status=400 if form.is_bound else 200,
    )


def edit_page(
    request: HttpRequest,
    *,
    form_class: type[PersonForm | OrganizationForm],
    owner: Person | Organization | None,
    create,
    update,
    template: str,
    saved_message: str,
    detail_url_name: str,
) -> HttpResponse:
    """Create or edit a person or organisation: POST, redirect, GET with a message. Errors of
    the services (a duplicate document...) show on the form, with everything typed kept."""
    if request.method != "POST":
        initial = _caller_contacts(request) if owner is None else None
        record_forms = RecordForms(form_class, owner=owner, initial_contacts=initial)
        return render(request, template, {"forms": record_forms, "record": owner})

    data = request.POST.copy()
    adding_row = data.get("add_row")
    if adding_row in ("emails", "phones", "addresses"):
        key = f"{adding_row}-TOTAL_FORMS"
        with contextlib.suppress(ValueError):
            data[key] = str(min(int(data.get(key, "0")) + 1, 20))
        record_forms = RecordForms(form_class, owner=owner, data=data)
        return render(request, template, {"forms": record_forms, "record": owner})

    record_forms = RecordForms(form_class, owner=owner, data=data)
    if record_forms.is_valid():
        try:
            if owner is None:
                saved = create(
                    actor=request.user,
                    contacts=record_forms.contacts(),
                    **record_forms.service_fields(),
                )
            else:
                saved = update(
                    owner,
                    actor=request.user,
                    contacts=record_forms.contacts(),
                    **record_forms.service_fields(),
                )
        except ValidationError as error:
            record_forms.add_service_error(error)
        except IntegrityError as error:
            duplicate = constraint_error(error)
            if duplicate is None:
                raise
            record_forms.add_service_error(duplicate)
        else:
            messages.success(request, saved_message)
            return redirect(detail_url_name, pk=saved.pk)
    if owner is not None:
        owner.refresh_from_db()  # the service may have changed it in memory before refusing
    context = {"forms": record_forms, "record": owner}
    return render(request, template, context, status=400)


# --- Create and edit ---------------------------------------------------------------------------


def _caller_contacts(request: HttpRequest) -> dict[str, list[dict[str, Any]]] | None:
    """The caller lookup sends staff here with ``?phone=`` when nobody has that number."""
    try:
        phone = clean_phone(request.GET.get("phone", ""))
    except ValidationError:
        return None
    return {"phones": [{"number": phone, "is_primary": True}]} if phone else None


def _person_update(person: Person, **kwargs: Any) -> Person:
    return person_update(person=person, **kwargs)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def person_new(request: HttpRequest) -> HttpResponse:
    return edit_page(
        request,
        form_class=PersonForm,
        owner=None,
        create=person_create,
        update=_person_update,
        template="citizens/person_form.html",
        saved_message=_("The person has been created."),
        detail_url_name="citizens:person_detail",
    )


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    return edit_page(
        request,
        form_class=PersonForm,
        owner=person,
        create=person_create,
        update=_person_update,
        template="citizens/person_form.html",
        saved_message=_("The changes have been saved."),
        detail_url_name="citizens:person_detail",
    )


# --- The 360° page -----------------------------------------------------------------------------


@functools.cache
def _person_page_queryset() -> QuerySet:
    """Built once per process (resolving its subqueries costs more than running them)."""
    latest_consents = (
        Consent.objects.filter(person=OuterRef("pk"))
        .order_by("purpose_id", "-stated_at", "-id")
        .distinct("purpose_id")
    )
    return with_contacts(Person.objects.all()).annotate(
        relationship_rows=json_rows(
            Relationship.objects.filter(person=OuterRef("pk")).order_by(
                "organization__name", "role", "id"
            ),
            ("id", "organization_id", "role", "position", "start_date", "end_date"),
            organization_name="organization__name",
        ),
        team_rows=json_rows(
            Team.objects.filter(members=OuterRef("pk")).order_by("name", "id"),
            ("id", "name", "organization_id"),
            organization_name="organization__name",
        ),
        consent_rows=json_rows(
            latest_consents,
            ("id", "purpose_id", "granted", "stated_at", "source", "text_version"),
            purpose_name="purpose__name",
        ),
    )


def _person_for_page(pk: int) -> Person:
    """The person with everything the page shows about them but the timeline: one query."""
    return get_object_or_404(_person_page_queryset(), pk=pk)


def _with_organization(rows: list, source: list[dict]) -> list:
    for row, data in zip(rows, source, strict=True):
        row.organization = Organization(pk=row.organization_id, name=data["organization_name"])
    return rows


def _consents(person: Person) -> list[Consent]:
    consents = instances(Consent, person.consent_rows)
    for consent, data in zip(consents, person.consent_rows or (), strict=True):
        consent.purpose = ConsentPurpose(pk=consent.purpose_id, name=data["purpose_name"])
    return sorted(consents, key=lambda consent: consent.purpose.name)


@require_GET
@module_required("citizens")
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person_for_page(pk)
    if person.merged_into_id:
        messages.info(request, _("This record was merged into another one: here it is."))
        return redirect("citizens:person_detail", pk=person.merged_into_id)
    record_read(actor=request.user, obj=person)
    if person.blocked_at:
        return render(request, "citizens/person_blocked.html", {"person": person})

    page = decorate_timeline(
        timeline_page(Interaction.objects.filter(person=person), request), request.user
    )
    if request.headers.get("HX-Request") and request.GET.get("cursor"):
        return render(request, "citizens/_timeline.html", {"page": page, "record": person})

    can_manage = request.user.has_perm(MANAGE)
    context = {
        "person": person,
        "record": person,
        "contacts": contact_rows(person),
        "custom": custom_rows(person, CustomField.Applies.PERSON),
        "consents": _consents(person),
        "relationships": _with_organization(
            instances(Relationship, person.relationship_rows), person.relationship_rows or []
        ),
        "teams": _with_organization(instances(Team, person.team_rows), person.team_rows or []),
        "page": page,
        "panels": person_panels(person, request.user),
        "can_manage": can_manage,
    }
    if can_manage:
        context["interaction_form"] = interaction_form(request, person)
        context["relationship_form"] = RelationshipForm(
            prefix=RELATIONSHIP_PREFIX, counterpart_model=Organization
        )
    return render(request, "citizens/person_detail.html", context)


# --- Interactions and relationships from the person's page -------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def person_interaction_new(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    return log_interaction(request, person, "citizens:person_detail")


def log_interaction(
    request: HttpRequest, owner: Person | Organization, detail_url_name: str
) -> HttpResponse:
    units = user_units(request.user)
    data = request.POST if request.method == "POST" else None
    form = InteractionForm(
        data=data,
        user=request.user,
        units=units,
        channel=owner.preferred_channel,
        prefix=INTERACTION_PREFIX,
    )
    if form.is_bound and form.is_valid():
        interaction_log(
            actor=request.user,
            channel=form.cleaned_data["channel"],
            direction=form.cleaned_data["direction"],
            subject=form.cleaned_data["subject"],
            text=form.cleaned_data["text"],
            occurred_at=form.cleaned_data["occurred_at"],
            unit=form.cleaned_data["unit"],
            **{"person" if isinstance(owner, Person) else "organization": owner},
        )
        messages.success(request, _("The interaction has been logged."))
        return redirect(detail_url_name, pk=owner.pk)
    back = reverse(detail_url_name, args=[owner.pk])
    return action_page(
        request,
        title=_("Log an interaction"),
        form=form,
        action=request.path,
        back=back,
        record=owner,
        submit=_("Log the interaction"),
    )


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def person_relationship_new(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    data = request.POST if request.method == "POST" else None
    form = RelationshipForm(data=data, prefix=RELATIONSHIP_PREFIX, counterpart_model=Organization)
    if form.is_bound and form.is_valid():
        organization = form.cleaned_data["counterpart_object"]
        add_relationship(request, person=person, organization=organization, form=form)
        return redirect("citizens:person_detail", pk=person.pk)
    return action_page(
        request,
        title=_("Relate to an organisation"),
        form=form,
        action=request.path,
        back=reverse("citizens:person_detail", args=[person.pk]),
        record=person,
        submit=_("Add the relationship"),
    )


def add_relationship(
    request: HttpRequest, *, person: Person, organization: Organization, form: RelationshipForm
) -> Relationship:
    relationship = relationship_add(
        person=person,
        organization=organization,
        role=form.cleaned_data["role"],
        position=form.cleaned_data["position"],
        start_date=form.cleaned_data["start_date"],
        end_date=form.cleaned_data["end_date"],
        actor=request.user,
    )
    messages.success(
        request,
        _("%(person)s is now related to %(organization)s.")
        % {"person": person.full_name, "organization": organization.name},
    )
    return relationship
