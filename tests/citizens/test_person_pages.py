"""The 360° pages of a person and of an organisation: content, the audited read, a fixed number of
queries, the keyset-paged timeline, panels of other modules, blocked records, permissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from citizens import gdpr, panels
from citizens.models import ConsentPurpose, CustomField, Interaction, Organization, Person
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    interaction_log,
    organization_create,
    person_create,
    relationship_add,
    team_create,
    team_member_add,
)
from crm.models import AuditAction, AuditEvent
from crm.modules import Panel

READ_ROLES = (
    "administrator",
    "citizen_service",
    "case_handler",
    "communication",
    "promotion",
    "inspector",
    "data_protection_officer",
)
MAX_QUERIES = 15


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def person(db):
    return person_create(
        actor=None,
        given_name="María",
        first_surname="Pérez",
        second_surname="Sanz",
        document_type="dni",
        document_number="12345678Z",
        birth_date=timezone.localdate().replace(year=1980),
        tags=["vecina", "voluntaria"],
        notes="Prefiere que la llamen por la tarde.",
        custom={"padron": "Centro"},
        contacts=Contacts(
            emails=[EmailInput("maria@example.org")],
            phones=[PhoneInput("600123456"), PhoneInput("+33 1 42 68 53 00", kind="work")],
            addresses=[
                AddressInput(street="Calle Mayor", number="3", municipality="Soria"),
                AddressInput(street="Rue de Rivoli", municipality="Paris", country="FR"),
            ],
        ),
    )


@pytest.fixture
def organization(db):
    return organization_create(
        actor=None,
        name="Asociación Vecinal Centro",
        kind=Organization.Kind.ASSOCIATION,
        tax_id="G12345674",
        contacts=Contacts(emails=[EmailInput("info@avcentro.example")]),
    )


def log_many(person: Person, count: int) -> list[Interaction]:
    now = timezone.now()
    return [
        interaction_log(
            actor=None,
            person=person,
            channel="phone",
            direction="in",
            subject=f"Llamada {number:02d}",
            occurred_at=now - timedelta(hours=number),
        )
        for number in range(count)
    ]


def page_url(person: Person) -> str:
    return reverse("citizens:person_detail", args=[person.pk])


# --- Content -----------------------------------------------------------------------------------


def test_the_page_shows_identity_contacts_tags_and_custom_fields(person, client_for):
    CustomField.objects.create(applies_to="person", key="padron", label="Distrito del padrón")

    response = client_for("case_handler").get(page_url(person))

    assert response.status_code == 200
    text = response.text
    assert "María Pérez Sanz" in text
    assert "12345678Z" in text
    assert "maria@example.org" in text
    assert 'href="mailto:maria@example.org"' in text
    # Phones in display format, dialled in E.164.
    assert "600 12 34 56" in text
    assert 'href="tel:+34600123456"' in text
    assert "+33 1 42 68 53 00" in text
    assert "Calle Mayor 3, Soria" in text
    assert "(FR)" in text
    assert "voluntaria" in text
    assert "Distrito del padrón" in text
    assert "Centro" in text
    assert "Prefiere que la llamen por la tarde." in text


def test_the_page_shows_the_current_consent_of_each_purpose(person, client_for):
    newsletter = ConsentPurpose.objects.create(code="news", name="Boletín", text="…")
    surveys = ConsentPurpose.objects.create(code="surveys", name="Encuestas", text="…")
    earlier = timezone.now() - timedelta(days=3)
    gdpr.consent_record(
        person=person, purpose=newsletter, granted=True, source="web_form", actor=None,
        stated_at=earlier,
    )  # fmt: skip
    gdpr.consent_record(
        person=person, purpose=newsletter, granted=False, source="phone", actor=None
    )
    gdpr.consent_record(person=person, purpose=surveys, granted=True, source="paper", actor=None)

    text = client_for("citizen_service").get(page_url(person)).text

    consents = re.search(r'id="consents-heading".*?</section>', text, re.S).group(0)
    assert re.search(r"Boletín:\s*<strong>withdrawn</strong>", consents)
    assert re.search(r"Encuestas:\s*<strong>granted</strong>", consents)
    assert consents.count("<li>") == 2  # the latest statement per purpose, not the history


def test_the_page_shows_organisations_roles_and_teams(person, organization, client_for):
    relationship_add(
        person=person, organization=organization, role="legal_representative", actor=None,
        position="Presidenta",
    )  # fmt: skip
    board = team_create(organization=organization, name="Junta directiva", actor=None)
    team_member_add(team=board, person=person, actor=None)

    text = client_for("inspector").get(page_url(person)).text

    org_url = reverse("citizens:organization_detail", args=[organization.pk])
    assert f'href="{org_url}"' in text
    assert "Legal representative" in text
    assert "(Presidenta)" in text
    assert "Junta directiva" in text


def test_a_read_of_a_citizens_page_is_audited(person, make_user, client):
    """ENS op.exp.8: every view of the 360° page is a 'read' event naming who and whom."""
    user = make_user("case_handler", username="lector")
    client.force_login(user)
    before = AuditEvent.objects.filter(action=AuditAction.READ).count()

    assert client.get(page_url(person)).status_code == 200
    assert client.get(page_url(person) + "?cursor=whatever").status_code == 200

    reads = AuditEvent.objects.filter(action=AuditAction.READ).order_by("id")
    assert reads.count() == before + 2
    event = reads.last()
    assert event.actor == user
    assert event.actor_username == "lector"
    assert event.object_type == "citizens.person"
    assert event.object_id == str(person.pk)
    assert event.changes == {"what": "detail"}


def test_the_organisation_page_read_is_audited(organization, client_for):
    client_for("communication").get(reverse("citizens:organization_detail", args=[organization.pk]))
    event = AuditEvent.objects.filter(action=AuditAction.READ).latest("id")
    assert (event.object_type, event.object_id) == ("citizens.organization", str(organization.pk))


# --- Efficiency and the timeline ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["citizen_service", "case_handler"])
def test_the_page_costs_the_same_few_queries_with_50_interactions(person, client_for, role):
    client = client_for(role)
    organization = organization_create(actor=None, name="Club Deportivo")
    relationship_add(person=person, organization=organization, role="member", actor=None)
    purpose = ConsentPurpose.objects.create(code="news", name="Boletín", text="…")
    gdpr.consent_record(person=person, purpose=purpose, granted=True, source="paper", actor=None)
    CustomField.objects.create(applies_to="person", key="padron", label="Padrón")
    log_many(person, 2)
    client.get(page_url(person))  # warm: the unit tree (other modules' panels read it) is cached
    with CaptureQueriesContext(connection) as few:
        assert client.get(page_url(person)).status_code == 200

    log_many(person, 48)
    with CaptureQueriesContext(connection) as many:
        response = client.get(page_url(person))

    assert response.status_code == 200
    assert response.text.count('<li class="border-start') == 20
    listed = "\n".join(query["sql"] for query in many.captured_queries)
    assert len(many) <= MAX_QUERIES, f"{len(many)} queries:\n{listed}"
    assert len(many) == len(few)


def test_the_timeline_is_newest_first_and_pages_by_keyset(person, client_for):
    log_many(person, 45)
    client = client_for("citizen_service")

    first = client.get(page_url(person)).text
    subjects = re.findall(r"Llamada (\d\d)", first)
    assert subjects == [f"{n:02d}" for n in range(20)]
    older = re.search(r'href="\?cursor=([\w-]+)#timeline"', first).group(1)

    second = client.get(page_url(person), {"cursor": older}).text
    assert re.findall(r"Llamada (\d\d)", second) == [f"{n:02d}" for n in range(20, 40)]
    assert "Back to the newest interactions" in second
    last_cursor = re.search(r'href="\?cursor=([\w-]+)#timeline"', second).group(1)

    third = client.get(page_url(person), {"cursor": last_cursor}).text
    assert re.findall(r"Llamada (\d\d)", third) == [f"{n:02d}" for n in range(40, 45)]
    assert "Older interactions" not in third


def test_htmx_gets_only_the_next_page_of_the_timeline(person, client_for):
    log_many(person, 25)
    client = client_for("citizen_service")
    first = client.get(page_url(person)).text
    older = re.search(r'hx-get="\?cursor=([\w-]+)"', first).group(1)

    partial = client.get(page_url(person), {"cursor": older}, headers={"HX-Request": "true"})

    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert re.findall(r"Llamada (\d\d)", partial.text) == [f"{n:02d}" for n in range(20, 25)]


def test_a_page_without_interactions_says_so(person, client_for):
    assert "No interactions yet." in client_for("promotion").get(page_url(person)).text


# --- Panels of other modules -------------------------------------------------------------------


def test_only_registered_panels_are_shown(person, client_for, monkeypatch):
    # No module's panels registered (the installed modules register theirs in ready()).
    monkeypatch.setattr(panels, "_person_providers", {})
    client = client_for("promotion")
    assert "record-panel-" not in client.get(page_url(person)).text

    def cases_panel(record, user):
        assert record == person
        return Panel(
            title="Expedientes abiertos",
            template_name="_partials/panel_empty.html",
            empty_text="Sin expedientes.",
        )

    def hidden_panel(record, user):
        return None  # e.g. the user may not use that module

    panels.register_person_panel("test-cases", cases_panel)
    panels.register_person_panel("test-hidden", hidden_panel)
    try:
        text = client.get(page_url(person)).text
    finally:
        panels.unregister_person_panel("test-cases")
        panels.unregister_person_panel("test-hidden")

    assert text.count('id="record-panel-') == 1
    assert "Expedientes abiertos" in text
    assert "Sin expedientes." in text


def test_organisation_panels_are_registered_apart(organization, client_for):
    panels.register_organization_panel(
        "test-agreements",
        lambda record, user: Panel(title="Convenios", template_name="_partials/panel_empty.html"),
    )
    try:
        text = (
            client_for("citizen_service")
            .get(reverse("citizens:organization_detail", args=[organization.pk]))
            .text
        )
    finally:
        panels.unregister_organization_panel("test-agreements")
    assert "Convenios" in text


# --- Blocked and merged records ----------------------------------------------------------------


def test_a_blocked_person_shows_a_notice_and_no_personal_data(person, client_for):
    interaction_log(
        actor=None, person=person, channel="phone", direction="in", subject="Consulta padrón"
    )
    gdpr.person_block(person=person, actor=None)

    response = client_for("data_protection_officer").get(page_url(person))

    assert response.status_code == 200
    assert "This person's data was erased" in response.text
    for personal in ("Pérez", "12345678Z", "maria@example.org", "600 12 34 56", "Consulta"):
        assert personal not in response.text
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk)).exists()


def test_a_blocked_person_cannot_be_edited(person, client_for):
    gdpr.person_block(person=person, actor=None)
    client = client_for("citizen_service")
    assert client.get(reverse("citizens:person_edit", args=[person.pk])).status_code == 404


def test_a_merged_person_leads_to_the_record_it_was_merged_into(person, client_for):
    other = person_create(actor=None, given_name="María", first_surname="Pérez")
    Person.objects.filter(pk=other.pk).update(merged_into_id=person.pk)

    response = client_for("citizen_service").get(page_url(other))

    assert response.status_code == 302
    assert response["Location"] == page_url(person)


def test_an_unknown_person_is_a_404(db, client_for):
    assert client_for("citizen_service").get("/citizens/people/999999/").status_code == 404


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READ_ROLES)
def test_every_reading_role_sees_the_page(person, client_for, role):
    assert client_for(role).get(page_url(person)).status_code == 200


def test_a_read_only_role_sees_no_editing_tools_and_gets_403_on_edit(person, client_for):
    client = client_for("case_handler")

    text = client.get(page_url(person)).text
    assert reverse("citizens:person_edit", args=[person.pk]) not in text
    assert 'id="log-interaction"' not in text
    assert 'id="add-relationship"' not in text

    assert client.get(reverse("citizens:person_edit", args=[person.pk])).status_code == 403
    response = client.post(
        reverse("citizens:person_edit", args=[person.pk]), {"given_name": "Otra"}
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.given_name == "María"


def test_a_manager_sees_the_editing_tools(person, client_for):
    text = client_for("promotion").get(page_url(person)).text
    assert reverse("citizens:person_edit", args=[person.pk]) in text
    assert 'id="log-interaction"' in text
    assert 'id="add-relationship"' in text


def test_management_cannot_see_citizens(person, client_for):
    assert client_for("management").get(page_url(person)).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.READ).exists()


# --- The organisation's page -------------------------------------------------------------------


def test_the_organisation_page_shows_people_roles_teams_and_timeline(
    person, organization, client_for
):
    relationship_add(person=person, organization=organization, role="member", actor=None)
    board = team_create(organization=organization, name="Junta directiva", actor=None)
    team_member_add(team=board, person=person, actor=None)
    team_create(organization=organization, name="Comisión de fiestas", actor=None)
    interaction_log(
        actor=None,
        organization=organization,
        channel="email",
        direction="out",
        subject="Convocatoria de subvenciones",
    )

    response = client_for("case_handler").get(
        reverse("citizens:organization_detail", args=[organization.pk])
    )

    assert response.status_code == 200
    text = response.text
    assert "Asociación Vecinal Centro" in text
    assert "G12345674" in text
    assert f'href="{page_url(person)}"' in text
    assert "Member" in text
    assert "Junta directiva" in text
    assert "Comisión de fiestas" in text
    assert "No members yet." in text
    assert "Convocatoria de subvenciones" in text
    assert "info@avcentro.example" in text


def test_the_organisation_page_costs_few_queries(person, organization, client_for):
    client = client_for("citizen_service")
    for number in range(3):
        other = person_create(actor=None, given_name=f"Socio {number}")
        relationship_add(person=other, organization=organization, role="member", actor=None)
        team = team_create(organization=organization, name=f"Equipo {number}", actor=None)
        team_member_add(team=team, person=other, actor=None)
    for _number in range(30):
        interaction_log(
            actor=None, organization=organization, channel="email", direction="in", subject="x"
        )
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("citizens:organization_detail", args=[organization.pk]))
    assert response.status_code == 200
    assert len(queries) <= MAX_QUERIES + 2


# --- The admin: look, do not touch ------------------------------------------------------------


def test_the_admin_lists_and_finds_people_but_does_not_change_or_delete_them(person, client_for):
    client = client_for("administrator")
    listing = client.get("/admin/citizens/person/", {"q": "perez 12345678z"})
    assert listing.status_code == 200
    assert "María Pérez Sanz" in listing.text
    assert 'name="action"' not in listing.text  # no bulk actions, no "delete selected"
    assert "Pérez" not in client.get("/admin/citizens/person/", {"q": "gonzalez"}).text
    assert client.get("/admin/citizens/person/add/").status_code == 403

    change_url = f"/admin/citizens/person/{person.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200
    assert "12345678Z" in page.text
    assert 'name="given_name"' not in page.text  # read-only
    read = AuditEvent.objects.filter(action=AuditAction.READ).latest("id")
    assert (read.object_type, read.object_id, read.changes) == (
        "citizens.person",
        str(person.pk),
        {"what": "admin"},
    )

    assert client.get(f"/admin/citizens/person/{person.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/citizens/person/{person.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.post(change_url, {"given_name": "Otra"}).status_code == 403
    assert Person.objects.get(pk=person.pk).given_name == "María"


def test_the_admin_does_not_delete_organisations(organization, client_for):
    client = client_for("administrator")
    assert "Asociación Vecinal Centro" in client.get("/admin/citizens/organization/").text
    url = f"/admin/citizens/organization/{organization.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Organization.objects.filter(pk=organization.pk).exists()


def test_consent_purposes_are_edited_in_the_admin_and_audited(db, client_for):
    response = client_for("administrator").post(
        "/admin/citizens/consentpurpose/add/",
        {"code": "encuestas", "name": "Encuestas", "text": "Acepto...", "version": "1",
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    purpose = ConsentPurpose.objects.get()
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.consentpurpose", object_id=str(purpose.pk)
    ).exists()


# --- In a real browser (Chromium + axe-core) ---------------------------------------------------

PASSWORD = "correct-horse-battery"  # tests/conftest.py's make_user


def horizontal_overflow(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_person_form_is_accessible_and_usable_on_a_phone(page, console_errors, make_user):
    from playwright.sync_api import expect

    from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in

    CustomField.objects.create(
        applies_to="person", key="barrio", label="Barrio", type="choice", choices=["Centro"]
    )
    CustomField.objects.create(applies_to="person", key="alta", label="Alta", type="date")
    make_user("citizen_service", username="clerk")
    log_in(page, "clerk", PASSWORD)

    page.goto(reverse("citizens:person_new"))
    assert_accessible(page)

    page.set_viewport_size(PHONE)
    page.reload()
    assert horizontal_overflow(page) <= 0, "the form scrolls sideways at 360px"
    page.locator("#id_given_name").fill("Ana")
    page.locator("#id_first_surname").fill("López")
    page.locator("#id_document_type").select_option("dni")
    page.locator("#id_document_number").fill("12345678A")
    page.locator("#id_phones-0-number").fill("600123456")
    with page.expect_navigation():
        page.locator("main button[type=submit]:not([name])").first.click()

    document = page.locator("#id_document_number")
    expect(document).to_have_attribute("aria-invalid", "true")
    described_by = (document.get_attribute("aria-describedby") or "").split()
    assert "id_document_number_error" in described_by
    error = page.locator("#id_document_number_error")
    expect(error).to_be_visible()
    expect(error).to_have_class(re.compile(r"\binvalid-feedback\b"))
    with translation.override("es"):
        expected = str(_("The check letter does not match the number: check the document."))
    expect(error).to_have_text(expected)
    expect(document).to_have_value("12345678A")
    expect(page.locator("#id_phones-0-number")).to_have_value("600123456")
    assert horizontal_overflow(page) <= 0, "the form with errors scrolls sideways at 360px"
    assert_accessible(page)

    document.fill("12345678Z")
    with page.expect_navigation():
        page.locator("main button[type=submit]:not([name])").first.click()
    person = Person.objects.get()
    assert page.url.endswith(page_url(person))
    assert_no_console_errors(console_errors)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_360_page_and_its_interaction_form_are_accessible(
    page, console_errors, make_user, person, organization
):
    from playwright.sync_api import expect

    from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in

    relationship_add(person=person, organization=organization, role="member", actor=None)
    purpose = ConsentPurpose.objects.create(code="news", name="Boletín", text="…")
    gdpr.consent_record(person=person, purpose=purpose, granted=True, source="paper", actor=None)
    log_many(person, 25)
    make_user("citizen_service", username="clerk")
    log_in(page, "clerk", PASSWORD)

    page.goto(page_url(person))
    expect(page.locator("h1")).to_contain_text("María Pérez Sanz")
    assert_accessible(page)

    # Two clicks: open the form, (fill it in,) log it.
    page.locator("#log-interaction summary").click()
    form = page.locator("#log-interaction form")
    expect(form).to_be_visible()
    assert_accessible(page)
    form.locator("[name=interaction-subject]").fill("Cita para el padrón")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator(".crm-messages")).to_be_visible()
    expect(page.locator(".crm-timeline").first).to_contain_text("Cita para el padrón")

    # htmx loads older interactions in place (and without JS the same link is a plain link).
    older = page.locator(".crm-timeline-more a")
    older.click()
    expect(page.locator(".crm-timeline")).to_have_count(2)
    expect(page.locator(".crm-timeline").nth(1)).to_contain_text("Llamada 19")
    assert_accessible(page)

    page.set_viewport_size(PHONE)
    page.goto(page_url(person))
    assert horizontal_overflow(page) <= 0, "the 360° page scrolls sideways at 360px"
    assert_no_console_errors(console_errors)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_organisation_page_is_accessible(page, console_errors, make_user, person, organization):
    from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

    relationship_add(person=person, organization=organization, role="member", actor=None)
    team = team_create(organization=organization, name="Junta directiva", actor=None)
    team_member_add(team=team, person=person, actor=None)
    team_create(organization=organization, name="Comisión", actor=None)
    make_user("citizen_service", username="clerk")
    log_in(page, "clerk", PASSWORD)

    page.goto(reverse("citizens:organization_detail", args=[organization.pk]))
    assert_accessible(page)
    page.goto(reverse("citizens:organization_edit", args=[organization.pk]))
    assert_accessible(page)
    assert_no_console_errors(console_errors)
