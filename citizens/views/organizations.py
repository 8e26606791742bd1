"""An organisation's record: create, edit, the 360° page (people and their roles, teams and their
members, timeline), logging an interaction, relationships and teams."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from citizens.forms import (
    OrganizationForm,
    RelationshipForm,
    TeamForm,
    TeamMemberForm,
)
from citizens.models import CustomField, Interaction, Organization, Person, Relationship, Team
from citizens.panels import organization_panels
from citizens.services import (
    organization_create,
    organization_update,
    record_read,
    team_create,
    team_member_add,
    team_member_remove,
)
from citizens.views.records import (
    MANAGE,
    RELATIONSHIP_PREFIX,
    action_page,
    add_relationship,
    contact_rows,
    custom_rows,
    decorate_timeline,
    edit_page,
    interaction_form,
    log_interaction,
    timeline_page,
    with_contacts,
)
from crm.permissions import module_required, permission_required

TEAM_PREFIX = "team"


def _organization_update(organization: Organization, **kwargs: Any) -> Organization:
    return organization_update(organization=organization, **kwargs)


def _in_use(pk: int) -> Organization:
    return get_object_or_404(Organization.objects.in_use(), pk=pk)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def organization_new(request: HttpRequest) -> HttpResponse:
    return edit_page(
        request,
        form_class=OrganizationForm,
        owner=None,
        create=organization_create,
        update=_organization_update,
        template="citizens/organization_form.html",
        saved_message=_("The organisation has been created."),
        detail_url_name="citizens:organization_detail",
    )


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def organization_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return edit_page(
        request,
        form_class=OrganizationForm,
        owner=_in_use(pk),
        create=organization_create,
        update=_organization_update,
        template="citizens/organization_form.html",
        saved_message=_("The changes have been saved."),
        detail_url_name="citizens:organization_detail",
    )


def _related_people(organization: Organization) -> list[Relationship]:
    return list(organization.relationships.all())


def _people_of(relationships: list[Relationship]) -> list[Person]:
    """The distinct people of the organisation's relationships, in name order."""
    people: dict[int, Person] = {}
    for relationship in relationships:
        if relationship.person.blocked_at is None:
            people.setdefault(relationship.person_id, relationship.person)
    return sorted(people.values(), key=lambda p: (p.first_surname, p.second_surname, p.given_name))


def _organization_for_page(pk: int) -> Organization:
    return get_object_or_404(
        with_contacts(Organization.objects.all()).prefetch_related(
            Prefetch(
                "relationships",
                queryset=Relationship.objects.select_related("person").order_by(
                    "role", "person__first_surname", "person__given_name", "id"
                ),
            ),
            Prefetch(
                "teams",
                queryset=Team.objects.order_by("name", "id").prefetch_related(
                    Prefetch(
                        "members",
                        queryset=Person.objects.order_by(
                            "first_surname", "second_surname", "given_name", "id"
                        ),
                    )
                ),
            ),
        ),
        pk=pk,
    )


@require_GET
@module_required("citizens")
def organization_detail(request: HttpRequest, pk: int) -> HttpResponse:
    organization = _organization_for_page(pk)
    if organization.merged_into_id:
        messages.info(request, _("This record was merged into another one: here it is."))
        return redirect("citizens:organization_detail", pk=organization.merged_into_id)
    record_read(actor=request.user, obj=organization)
    if organization.blocked_at:
        return render(request, "citizens/organization_blocked.html", {"organization": organization})
    page = decorate_timeline(
        timeline_page(Interaction.objects.filter(organization=organization), request),
        request.user,
    )
    if request.headers.get("HX-Request") and request.GET.get("cursor"):
        return render(request, "citizens/_timeline.html", {"page": page, "record": organization})

    relationships = _related_people(organization)
    teams = list(organization.teams.all())
    can_manage = request.user.has_perm(MANAGE)
    context: dict[str, Any] = {
        "organization": organization,
        "record": organization,
        "contacts": contact_rows(organization),
        "custom": custom_rows(organization, CustomField.Applies.ORGANIZATION),
        "relationships": relationships,
        "teams": teams,
        "page": page,
        "panels": organization_panels(organization, request.user),
        "can_manage": can_manage,
    }
    if can_manage:
        people = _people_of(relationships)
        context["interaction_form"] = interaction_form(request, organization)
        context["relationship_form"] = RelationshipForm(
            prefix=RELATIONSHIP_PREFIX, counterpart_model=Person
        )
        context["team_form"] = TeamForm(prefix=TEAM_PREFIX)
        context["member_forms"] = {
            team.pk: TeamMemberForm(
                prefix=f"team-{team.pk}",
                team=team,
                people=[person for person in people if person not in team.members.all()],
            )
            for team in teams
        }
        context["has_related_people"] = bool(people)
        for team in teams:
            team.member_form = context["member_forms"][team.pk]
    return render(request, "citizens/organization_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def organization_interaction_new(request: HttpRequest, pk: int) -> HttpResponse:
    return log_interaction(request, _in_use(pk), "citizens:organization_detail")


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def organization_relationship_new(request: HttpRequest, pk: int) -> HttpResponse:
    organization = _in_use(pk)
    data = request.POST if request.method == "POST" else None
    form = RelationshipForm(data=data, prefix=RELATIONSHIP_PREFIX, counterpart_model=Person)
    if form.is_bound and form.is_valid():
        person = form.cleaned_data["counterpart_object"]
        add_relationship(request, person=person, organization=organization, form=form)
        return redirect("citizens:organization_detail", pk=organization.pk)
    return action_page(
        request,
        title=_("Relate a person"),
        form=form,
        action=request.path,
        back=reverse("citizens:organization_detail", args=[organization.pk]),
        record=organization,
        submit=_("Add the relationship"),
    )


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def team_new(request: HttpRequest, pk: int) -> HttpResponse:
    organization = _in_use(pk)
    data = request.POST if request.method == "POST" else None
    form = TeamForm(data=data, prefix=TEAM_PREFIX)
    if form.is_bound and form.is_valid():
        team = team_create(
            organization=organization, name=form.cleaned_data["name"], actor=request.user
        )
        messages.success(request, _("The team %(team)s has been created.") % {"team": team.name})
        return redirect(reverse("citizens:organization_detail", args=[organization.pk]) + "#teams")
    return action_page(
        request,
        title=_("New team"),
        form=form,
        action=request.path,
        back=reverse("citizens:organization_detail", args=[organization.pk]),
        record=organization,
        submit=_("Create the team"),
    )


@require_http_methods(["GET", "POST"])
@permission_required(MANAGE)
def team_member_new(request: HttpRequest, pk: int, team_pk: int) -> HttpResponse:
    organization = _in_use(pk)
    team = get_object_or_404(Team, pk=team_pk, organization=organization)
    related = (
        Person.objects.in_use()
        .filter(relationships__organization=organization)
        .exclude(teams=team)
        .distinct()
        .order_by("first_surname", "second_surname", "given_name", "id")
    )
    data = request.POST if request.method == "POST" else None
    form = TeamMemberForm(data=data, prefix=f"team-{team.pk}", people=related, team=team)
    if form.is_bound and form.is_valid():
        person = form.cleaned_data["person"]
        team_member_add(team=team, person=person, actor=request.user)
        messages.success(
            request,
            _("%(person)s is now a member of %(team)s.")
            % {"person": person.full_name, "team": team.name},
        )
        return redirect(reverse("citizens:organization_detail", args=[organization.pk]) + "#teams")
    return action_page(
        request,
        title=_("Add a member to %(team)s") % {"team": team.name},
        form=form,
        action=request.path,
        back=reverse("citizens:organization_detail", args=[organization.pk]),
        record=organization,
        submit=_("Add the member"),
    )


@require_POST
@permission_required(MANAGE)
def team_member_delete(request: HttpRequest, pk: int, team_pk: int, person_pk: int):
    organization = _in_use(pk)
    team = get_object_or_404(Team, pk=team_pk, organization=organization)
    person = get_object_or_404(Person, pk=person_pk)
    if team_member_remove(team=team, person=person, actor=request.user):
        messages.success(
            request,
            _("%(person)s is no longer a member of %(team)s.")
            % {"person": person.full_name, "team": team.name},
        )
    return redirect(reverse("citizens:organization_detail", args=[organization.pk]) + "#teams")
