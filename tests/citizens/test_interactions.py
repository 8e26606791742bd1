"""Logging an interaction from a person's or organisation's page, relating people and
organisations from either page, and teams inside organisations (all through the services,
audited)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from citizens import gdpr
from citizens.models import Interaction, Organization, Relationship, Team
from citizens.services import (
    organization_create,
    person_create,
    relationship_add,
    team_create,
    team_member_add,
    team_member_remove,
)
from crm.models import AuditAction, AuditEvent
from tests.citizens.test_forms import field_error, value_of


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def person(db):
    return person_create(
        actor=None,
        given_name="Lucía",
        first_surname="Martín",
        document_type="dni",
        document_number="00000000T",
        preferred_channel="email",
    )


@pytest.fixture
def organization(db):
    return organization_create(actor=None, name="Peña Los Amigos", tax_id="G12345674")


@pytest.fixture
def clerk(make_user):
    """A citizen-service clerk in two units; Urbanismo was given first."""
    return make_user("citizen_service", unit_codes=("urbanismo", "servicios-sociales"))


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def detail(record) -> str:
    name = "person_detail" if record.__class__.__name__ == "Person" else "organization_detail"
    return reverse(f"citizens:{name}", args=[record.pk])


# --- Logging an interaction --------------------------------------------------------------------


def test_the_page_offers_the_interaction_form_with_its_defaults(person, clerk_client, units):
    text = clerk_client.get(detail(person)).text

    form = re.search(r'<details[^>]*id="log-interaction".*?</details>', text, re.S).group(0)
    assert "<summary" in form
    assert f'action="{reverse("citizens:person_interaction_new", args=[person.pk])}"' in form
    # The person's preferred channel, inbound, the user's first unit.
    assert '<option value="email" selected>' in form
    assert re.search(r'value="in"[^>]*checked', form)
    assert f'<option value="{units["urbanismo"].pk}" selected>' in form


def test_logging_an_interaction_in_one_post(person, clerk_client, clerk, units):
    before = timezone.now()

    response = clerk_client.post(
        reverse("citizens:person_interaction_new", args=[person.pk]),
        {
            "interaction-channel": "phone",
            "interaction-direction": "in",
            "interaction-subject": "Pregunta por la tasa de basuras",
            "interaction-text": "Se le explica el calendario de pago.",
            "interaction-occurred_at": "",
            "interaction-unit": str(units["urbanismo"].pk),
        },
        follow=True,
    )

    assert response.redirect_chain == [(detail(person), 302)]
    assert "The interaction has been logged." in response.text
    assert "Pregunta por la tasa de basuras" in response.text
    interaction = Interaction.objects.get()
    assert interaction.person == person
    assert (interaction.channel, interaction.direction) == ("phone", "in")
    assert interaction.text == "Se le explica el calendario de pago."
    assert interaction.staff == clerk
    assert interaction.unit == units["urbanismo"]
    assert before <= interaction.occurred_at <= timezone.now()
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.interaction"
    ).exists()


def test_an_interaction_can_be_dated_in_the_past_but_not_the_future(person, clerk_client):
    url = reverse("citizens:person_interaction_new", args=[person.pk])
    base = {
        "interaction-channel": "letter",
        "interaction-direction": "out",
        "interaction-subject": "Carta",
    }
    past = timezone.localtime() - timedelta(days=2)
    ok = clerk_client.post(
        url, {**base, "interaction-occurred_at": past.strftime("%Y-%m-%dT%H:%M")}
    )
    assert ok.status_code == 302
    assert timezone.localtime(Interaction.objects.get().occurred_at).date() == past.date()

    future = timezone.localtime() + timedelta(days=2)
    refused = clerk_client.post(
        url, {**base, "interaction-occurred_at": future.strftime("%Y-%m-%dT%H:%M")}
    )
    assert refused.status_code == 400
    assert "cannot be in the future" in field_error(refused.text, "id_interaction-occurred_at")
    assert Interaction.objects.count() == 1


def test_an_incomplete_interaction_shows_its_form_with_what_was_typed(person, clerk_client):
    response = clerk_client.post(
        reverse("citizens:person_interaction_new", args=[person.pk]),
        {
            "interaction-channel": "phone",
            "interaction-direction": "in",
            "interaction-subject": "",
            "interaction-text": "Texto escrito",
        },
    )
    assert response.status_code == 400
    assert "This field is required." in field_error(response.text, "id_interaction-subject")
    assert "Texto escrito" in response.text
    assert not Interaction.objects.exists()


def test_an_organisation_interaction(organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:organization_interaction_new", args=[organization.pk]),
        {
            "interaction-channel": "email",
            "interaction-direction": "out",
            "interaction-subject": "Convocatoria",
        },
    )
    assert response.status_code == 302
    assert Interaction.objects.get().organization == organization
    assert "Convocatoria" in clerk_client.get(detail(organization)).text


def test_read_only_roles_cannot_log_interactions(person, client_for):
    client = client_for("case_handler")
    url = reverse("citizens:person_interaction_new", args=[person.pk])
    response = client.post(
        url,
        {
            "interaction-channel": "phone",
            "interaction-direction": "in",
            "interaction-subject": "x",
        },
    )
    assert response.status_code == 403
    assert not Interaction.objects.exists()


def test_nothing_is_logged_for_a_blocked_person(person, clerk_client):
    gdpr.person_block(person=person, actor=None)
    response = clerk_client.post(
        reverse("citizens:person_interaction_new", args=[person.pk]),
        {"interaction-channel": "phone", "interaction-direction": "in", "interaction-subject": "x"},
    )
    assert response.status_code == 404


# --- Relationships -----------------------------------------------------------------------------


def relationship_post(query: str, **extra: str) -> dict[str, str]:
    return {
        "relationship-counterpart_query": query,
        "relationship-role": "legal_representative",
        "relationship-position": "Presidenta",
        "relationship-start_date": "2023-01-01",
        "relationship-end_date": "",
        **extra,
    }


def test_relating_a_person_to_an_organisation_from_the_person(person, organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:person_relationship_new", args=[person.pk]),
        relationship_post("peña amigos"),
        follow=True,
    )

    assert response.redirect_chain == [(detail(person), 302)]
    assert "Lucía Martín is now related to Peña Los Amigos." in response.text
    relationship = Relationship.objects.get()
    assert (relationship.person, relationship.organization) == (person, organization)
    assert (relationship.role, relationship.position) == ("legal_representative", "Presidenta")
    assert str(relationship.start_date) == "2023-01-01"
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.relationship"
    ).exists()


def test_relating_a_person_from_the_organisation_by_document(person, organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:organization_relationship_new", args=[organization.pk]),
        relationship_post("00000000t", **{"relationship-role": "member"}),
    )
    assert response.status_code == 302
    assert response["Location"] == detail(organization)
    assert Relationship.objects.get().person == person


def test_when_several_match_the_user_chooses(person, clerk_client):
    first = organization_create(actor=None, name="Club Deportivo Norte")
    second = organization_create(actor=None, name="Club Deportivo Sur")
    url = reverse("citizens:person_relationship_new", args=[person.pk])

    ask = clerk_client.post(url, relationship_post("club deportivo"))

    assert ask.status_code == 400
    assert "Several match: choose one." in ask.text
    assert "Club Deportivo Norte" in ask.text
    assert "Club Deportivo Sur" in ask.text
    assert value_of(ask.text, "id_relationship-position") == "Presidenta"
    assert not Relationship.objects.exists()

    chosen = clerk_client.post(
        url, relationship_post("club deportivo", **{"relationship-counterpart": str(second.pk)})
    )
    assert chosen.status_code == 302
    assert Relationship.objects.get().organization == second
    assert first.relationships.count() == 0


def test_nothing_matching_is_an_error(person, clerk_client):
    response = clerk_client.post(
        reverse("citizens:person_relationship_new", args=[person.pk]),
        relationship_post("inexistente"),
    )
    assert response.status_code == 400
    assert "Nothing matches this" in field_error(response.text, "id_relationship-counterpart_query")


def test_the_end_cannot_be_before_the_start(person, organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:person_relationship_new", args=[person.pk]),
        relationship_post("peña", **{"relationship-end_date": "2022-01-01"}),
    )
    assert response.status_code == 400
    assert "The end cannot be before the start." in field_error(
        response.text, "id_relationship-end_date"
    )


def test_blocked_people_are_not_offered(person, organization, clerk_client):
    gdpr.person_block(person=person, actor=None)
    response = clerk_client.post(
        reverse("citizens:organization_relationship_new", args=[organization.pk]),
        relationship_post("Persona bloqueada"),
    )
    assert response.status_code == 400
    assert not Relationship.objects.exists()


# --- Teams -------------------------------------------------------------------------------------


def test_creating_a_team(organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:team_new", args=[organization.pk]), {"team-name": "  Junta   directiva "}
    )
    assert response.status_code == 302
    assert response["Location"] == detail(organization) + "#teams"
    team = Team.objects.get()
    assert (team.organization, team.name) == (organization, "Junta directiva")
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.team"
    ).exists()


def test_a_team_needs_a_name(organization, clerk_client):
    response = clerk_client.post(
        reverse("citizens:team_new", args=[organization.pk]), {"team-name": ""}
    )
    assert response.status_code == 400
    assert "This field is required." in field_error(response.text, "id_team-name")


def test_adding_and_removing_members(person, organization, clerk_client):
    outsider = person_create(actor=None, given_name="Ajeno")
    relationship_add(person=person, organization=organization, role="member", actor=None)
    team = team_create(organization=organization, name="Comisión de fiestas", actor=None)
    page = clerk_client.get(detail(organization)).text
    member_select = re.search(rf'<select[^>]+name="team-{team.pk}-person".*?</select>', page, re.S)
    assert "Lucía Martín" in member_select.group(0)
    assert "Ajeno" not in member_select.group(0)  # only people related to the organisation
    add_url = reverse("citizens:team_member_new", args=[organization.pk, team.pk])

    assert clerk_client.post(add_url, {f"team-{team.pk}-person": str(outsider.pk)}).status_code == (
        400
    )
    added = clerk_client.post(add_url, {f"team-{team.pk}-person": str(person.pk)}, follow=True)

    assert "Lucía Martín is now a member of Comisión de fiestas." in added.text
    assert list(team.members.all()) == [person]
    assert "Comisión de fiestas" in clerk_client.get(detail(person)).text

    remove_url = reverse("citizens:team_member_delete", args=[organization.pk, team.pk, person.pk])
    assert clerk_client.get(remove_url).status_code == 405
    removed = clerk_client.post(remove_url, follow=True)
    assert "Lucía Martín is no longer a member of Comisión de fiestas." in removed.text
    assert not team.members.exists()
    changes = list(
        AuditEvent.objects.filter(object_type="citizens.team", action=AuditAction.UPDATE)
        .order_by("id")
        .values_list("changes", flat=True)
    )
    assert changes == [{"members": {"added": person.pk}}, {"members": {"removed": person.pk}}]


def test_team_services_report_what_they_did(person, organization):
    team = team_create(organization=organization, name="Equipo", actor=None)
    assert team_member_add(team=team, person=person, actor=None) is True
    assert team_member_add(team=team, person=person, actor=None) is False
    assert team_member_remove(team=team, person=person, actor=None) is True
    assert team_member_remove(team=team, person=person, actor=None) is False
    assert AuditEvent.objects.filter(object_type="citizens.team").count() == 3


def test_a_team_of_another_organisation_is_a_404(person, organization, clerk_client):
    other = organization_create(actor=None, name="Otra")
    team = team_create(organization=other, name="Equipo", actor=None)
    url = reverse("citizens:team_member_new", args=[organization.pk, team.pk])
    assert clerk_client.post(url, {}).status_code == 404


@pytest.mark.parametrize("role", ["case_handler", "inspector", "data_protection_officer"])
def test_read_only_roles_cannot_touch_teams_or_relationships(
    person, organization, client_for, role
):
    client = client_for(role)
    team = team_create(organization=organization, name="Equipo", actor=None)
    assert (
        client.post(
            reverse("citizens:team_new", args=[organization.pk]), {"team-name": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("citizens:team_member_new", args=[organization.pk, team.pk]),
            {f"team-{team.pk}-person": str(person.pk)},
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("citizens:person_relationship_new", args=[person.pk]), relationship_post("peña")
        ).status_code
        == 403
    )
    page = client.get(detail(organization)).text
    assert reverse("citizens:team_new", args=[organization.pk]) not in page
    assert Team.objects.count() == 1
    assert not Relationship.objects.exists()
    assert isinstance(organization, Organization)
