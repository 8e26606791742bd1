"""The staff pages: campaigns (create, edit, transitions, budget, objectives, interactions,
email with preview and a test sent over real SMTP, results), segments (editor, live count,
members), static lists, the home panel, and the campaign recorded by a case filed through its
link."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import results, services
from campaigns.models import BudgetLine, Campaign, Delivery, EmailTemplate, Segment, StaticList
from cases.models import Case
from citizens.models import Interaction
from crm.models import AuditEvent
from tests.cases.public_helpers import COMPLAINT, filing_data, reset_limits

from .helpers import campaign, person, purpose, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def comms(make_user):
    return make_user("communication", username="comms", email="comms@example.org")


@pytest.fixture
def client(client, comms):
    client.force_login(comms)
    return client


def campaign_data(**overrides) -> dict:
    data = {
        "name": "Seguridad vial",
        "code": "vial-2026",
        "kind": "awareness",
        "description": "Campaña de verano",
        "unit": "",
        "starts_on": "2026-06-01",
        "ends_on": "2026-08-31",
        "channels": ["email", "letter"],
        "purpose": "",
        "segment": "",
        "static_list": "",
        "send_rate": "",
    }
    data.update(overrides)
    return data


def test_create_a_campaign(client, comms):
    response = client.post("/campaigns/new/", campaign_data())
    created = Campaign.objects.get(code="vial-2026")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{created.pk}/"
    assert created.channels == ["email", "letter"]
    assert created.status == Campaign.Status.DRAFT
    assert created.created_by == comms
    assert not created.track_opens
    assert not created.track_clicks
    assert AuditEvent.objects.filter(object_type="campaigns.campaign", action="create").exists()
    page = client.get(response["Location"])
    assert "Seguridad vial" in page.text
    assert "Choose its target public" in page.text  # what keeps it from being scheduled


def test_bad_input_is_answered_next_to_the_field_and_nothing_is_written(client):
    response = client.post(
        "/campaigns/new/", campaign_data(ends_on="2026-05-01", code="no spaces", name="")
    )
    assert response.status_code == 200
    assert not Campaign.objects.exists()
    form = response.context["form"]
    assert set(form.errors) >= {"name", "code", "ends_on"}
    assert 'value="Campaña de verano"' in response.text or "Campaña de verano" in response.text


def test_the_list_filters_and_pages(client, comms):
    for n in range(3):
        campaign(comms, code=f"c{n}", name=f"Campaña {n}")
    response = client.get("/campaigns/?q=Campaña 1")
    assert response.status_code == 200
    assert "Campaña 1" in response.text
    assert "Campaña 2" not in response.text


def test_transitions_are_post_only_checked_and_audited(client, comms):
    target = segment(comms, {"op": "and", "rules": []})
    draft = campaign(comms, segment=target)
    # An email campaign needs its consent purpose before it can be scheduled.
    response = client.post(f"/campaigns/{draft.pk}/action/schedule/", follow=True)
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert "consent purpose" in response.text
    services.campaign_update(campaign=draft, actor=comms, purpose=purpose())
    assert client.get(f"/campaigns/{draft.pk}/action/schedule/").status_code == 405
    client.post(f"/campaigns/{draft.pk}/action/schedule/")
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.SCHEDULED
    # Email campaigns start with their sending, not by hand.
    client.post(f"/campaigns/{draft.pk}/action/start/")
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.SCHEDULED
    client.post(f"/campaigns/{draft.pk}/action/cancel/")
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.CANCELLED
    changes = AuditEvent.objects.filter(object_id=str(draft.pk), object_type="campaigns.campaign")
    assert [e.changes.get("status") for e in changes.order_by("id") if "status" in e.changes][
        -2:
    ] == [
        ["draft", "scheduled"],
        ["scheduled", "cancelled"],
    ]


def test_a_campaign_of_letters_starts_and_finishes_by_hand(client, comms):
    target = segment(comms, {"op": "and", "rules": []})
    letters = campaign(comms, channels=["letter"], segment=target)
    for action in ("schedule", "start", "finish"):
        client.post(f"/campaigns/{letters.pk}/action/{action}/")
    letters.refresh_from_db()
    assert letters.status == Campaign.Status.FINISHED


def test_a_started_campaign_keeps_its_target_and_email(comms):
    target = segment(comms, {"op": "and", "rules": []})
    running = campaign(comms, channels=["letter"], segment=target)
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.RUNNING)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.campaign_update(campaign=running, actor=comms, segment=None)
    services.campaign_update(campaign=running, actor=comms, name="Otro nombre")


def test_budget_lines_totals_and_deviation(client, comms):
    draft = campaign(comms)
    client.post(
        f"/campaigns/{draft.pk}/budget/new/",
        {"concept": "Cuñas de radio", "planned": "1000", "actual": "1200.50", "currency": "eur"},
    )
    client.post(
        f"/campaigns/{draft.pk}/budget/new/",
        {"concept": "Carteles", "planned": "500", "actual": "100", "currency": "EUR"},
    )
    bad = client.post(
        f"/campaigns/{draft.pk}/budget/new/",
        {"concept": "X", "planned": "-1", "actual": "0", "currency": "EURO"},
    )
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"planned", "currency"}
    assert BudgetLine.objects.filter(campaign=draft).count() == 2
    [total] = results.budget_totals(draft)
    assert (total.currency, total.planned, total.actual) == (
        "EUR",
        Decimal("1500"),
        Decimal("1300.50"),
    )
    assert total.deviation == Decimal("-199.50")
    page = client.get(f"/campaigns/{draft.pk}/", headers={"accept-language": "es"})
    assert "1300,50" in page.text
    assert "-199,50" in page.text


def test_objectives_progress_is_computed_from_data(client, comms):
    sent = campaign(comms)
    client.post(
        f"/campaigns/{sent.pk}/objectives/new/",
        {"name": "Llegar a 4 personas", "indicator": "reach", "target": "4"},
    )
    client.post(
        f"/campaigns/{sent.pk}/objectives/new/",
        {"name": "Tasa de bajas baja", "indicator": "unsubscribe_rate", "target": "10"},
    )
    people = [person(f"P{n}") for n in range(3)]
    now = timezone.now()
    for n, who in enumerate(people):
        Delivery.objects.create(
            campaign=sent,
            person=who,
            email=f"p{n}@x.es",
            status="sent",
            sent_at=now,
            unsubscribed_at=now if n == 0 else None,
        )
    reach, unsubscribes = results.compute(sent).objectives
    assert (reach.value, reach.percent, reach.met) == (Decimal(3), 75, False)
    assert unsubscribes.value == Decimal("33.3")
    assert not unsubscribes.met
    page = client.get(f"/campaigns/{sent.pk}/results/")
    assert page.status_code == 200
    assert "Llegar a 4 personas" in page.text
    assert 'value="75"' in page.text


def test_cases_filed_through_the_campaign_link_record_it(client, comms):
    sent = campaign(comms)
    reset_limits()
    form = client.get(f"{COMPLAINT}?campaign={sent.code}")
    assert f'value="{sent.code}"' in form.text
    response = client.post(COMPLAINT, filing_data(campaign_code=sent.code))
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.campaign == sent
    figures = results.compute(sent)
    assert (figures.cases, figures.form_submissions) == (1, 1)
    # An unknown code is ignored: the filing goes through.
    reset_limits()
    client.post(COMPLAINT, filing_data(campaign_code="nope", document_number="87654321X"))
    assert Case.objects.filter(campaign__isnull=True).count() == 1


def test_interactions_of_other_channels_enter_the_timeline(client, comms):
    letters = campaign(comms, channels=["letter"])
    ana = person("Ana", document_type="dni", document_number="12345678Z")
    response = client.post(
        f"/campaigns/{letters.pk}/interactions/new/",
        {"person": "12345678z", "channel": "letter", "subject": "Carta informativa", "text": ""},
    )
    assert response.status_code == 302
    interaction = Interaction.objects.get(person=ana)
    assert (interaction.channel, interaction.related_type, interaction.related_id) == (
        "letter",
        "campaigns.campaign",
        letters.pk,
    )
    unknown = client.post(
        f"/campaigns/{letters.pk}/interactions/new/",
        {"person": "nadie@example.org", "channel": "letter", "subject": "Carta"},
    )
    assert "person" in unknown.context["form"].errors


def test_the_email_refuses_a_bad_template_next_to_the_field(client, comms):
    draft = campaign(comms)
    response = client.post(
        f"/campaigns/{draft.pk}/email/",
        {
            "save": "1",
            "email_subject": "Hola {{ person.document_number }}",
            "email_html": "<p>{% include 'x.html' %}</p>",
            "email_text": "Hola",
            "email_language": "es",
            "landing_url": "",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "person.document_number" in " ".join(errors["email_subject"])
    assert "not allowed" in " ".join(errors["email_html"])
    draft.refresh_from_db()
    assert draft.email_subject == "Hola {{ person.given_name }}"


def test_preview_with_a_real_person_and_a_test_sent_to_the_author(client, comms, smtp_mailer):
    draft = campaign(comms)
    person("Lucía", email="lucia@example.org", first_surname="Pérez")
    preview = client.get(f"/campaigns/{draft.pk}/email/?person=lucia@example.org")
    assert preview.context["preview"].subject == "Hola Lucía"
    assert "Hola Lucía" in preview.text
    response = client.post(
        f"/campaigns/{draft.pk}/email/", {"test": "1", "person": "lucia@example.org"}
    )
    assert response.status_code == 302
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["comms@example.org"]
    assert "Hola Lucía" in mail.subject
    assert "TEST" in mail.subject
    assert "Hola Lucía" in mail.body("plain")
    assert "campaign=incendios-2026" in mail.body("html")


def test_the_segment_editor_saves_groups_and_counts_live(client, comms):
    person("Ana", tags=["mayores"], municipality="Cádiz")
    person("Bea", tags=["mayores"], municipality="Sevilla")
    person("Carmen", municipality="Cádiz")
    data = {
        "name": "Mayores de Cádiz",
        "description": "",
        "op": "and",
        "g0-op": "and",
        "g0-c0-type": "tags",
        "g0-c0-values": "mayores",
        "g0-c0-match": "any",
        "g0-c1-type": "municipality",
        "g0-c1-values": "cadiz",
        "g0-c2-type": "",
    }
    count = client.post("/campaigns/segments/count/", data, HTTP_HX_REQUEST="true")
    assert "1 person matches now" in count.text
    bad = client.post("/campaigns/segments/count/", {**data, "g0-c0-values": ""})
    assert "Condition 1" in bad.text
    response = client.post("/campaigns/segments/new/", data)
    saved = Segment.objects.get()
    assert response["Location"] == f"/campaigns/segments/{saved.pk}/"
    assert saved.rules == {
        "op": "and",
        "rules": [
            {
                "op": "and",
                "rules": [
                    {"type": "tags", "values": ["mayores"], "match": "any"},
                    {"type": "municipality", "values": ["cadiz"]},
                ],
            }
        ],
    }
    page = client.get(f"/campaigns/segments/{saved.pk}/")
    assert "1 person matches now" in page.text
    assert "Ana" in page.text
    assert "Bea" not in page.text
    editor = client.get(f"/campaigns/segments/{saved.pk}/edit/")
    assert 'value="mayores"' in editor.text


def test_the_editor_keeps_what_was_typed_and_says_what_is_wrong(client):
    data = {
        "name": "",
        "op": "or",
        "g0-op": "or",
        "g0-c0-type": "age",
        "g0-c0-min": "80",
        "g0-c0-max": "20",
    }
    response = client.post("/campaigns/segments/new/", data)
    assert response.status_code == 200
    assert not Segment.objects.exists()
    assert "above the maximum" in response.text
    assert 'value="80"' in response.text
    assert "name" in response.context["form"].errors


def test_members_are_paged_by_keyset(client, comms, settings):
    from campaigns.views import targets

    for n in range(5):
        person(f"Persona{n}", first_surname=f"Apellido{n}", tags=["x"])
    saved = segment(comms, {"op": "and", "rules": [{"type": "tags", "values": ["x"]}]})
    original = targets.MEMBERS_PER_PAGE
    targets.MEMBERS_PER_PAGE = 2
    try:
        first = client.get(f"/campaigns/segments/{saved.pk}/")
        cursor = first.context["page"].next_cursor
        second = client.get(f"/campaigns/segments/{saved.pk}/?cursor={cursor}")
    finally:
        targets.MEMBERS_PER_PAGE = original
    assert [p.given_name for p in first.context["page"].items] == ["Persona0", "Persona1"]
    assert [p.given_name for p in second.context["page"].items] == ["Persona2", "Persona3"]


def test_freeze_and_upload_pages(client, comms):
    person("Ana", tags=["x"], document_type="dni", document_number="12345678Z")
    saved = segment(comms, {"op": "and", "rules": [{"type": "tags", "values": ["x"]}]})
    response = client.post(f"/campaigns/segments/{saved.pk}/freeze/", {"name": "Congelada"})
    frozen = StaticList.objects.get(name="Congelada")
    assert response["Location"] == f"/campaigns/lists/{frozen.pk}/"
    assert frozen.size == 1
    upload = io.BytesIO(b"dni\n12345678Z\n11111111A\n")
    upload.name = "lista.csv"
    response = client.post("/campaigns/lists/upload/", {"name": "Subida", "file": upload})
    uploaded = StaticList.objects.get(name="Subida")
    page = client.get(response["Location"])
    assert "11111111A" in page.text  # the rejected row, with its reason
    empty = io.BytesIO(b"")
    empty.name = "vacia.csv"
    refused = client.post("/campaigns/lists/upload/", {"name": "Vacía", "file": empty})
    assert refused.status_code == 200
    assert "file" in refused.context["form"].errors
    assert uploaded.size == 1


def test_the_home_panel_lists_running_campaigns(client, comms):
    running = campaign(comms, name="Campaña en marcha")
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.RUNNING)
    campaign(comms, code="borrador", name="Borrador")
    page = client.get("/")
    assert "Campaña en marcha" in page.text
    assert "Borrador" not in page.text


def test_another_units_campaign_is_a_404(client_for, comms, units, make_user):
    other = make_user("communication", unit_codes=("servicios-sociales",), username="otra")
    theirs = campaign(other, unit=units["servicios-sociales"])
    assert (
        client_for("communication", unit_codes=("urbanismo",))
        .get(f"/campaigns/{theirs.pk}/")
        .status_code
        == 404
    )
    assert client_for("data_protection_officer").get(f"/campaigns/{theirs.pk}/").status_code == 200
    # Belonging to no unit is not a pass to every unit's campaigns.
    no_unit = client_for("communication", unit_codes=(), username="sin-unidad")
    assert no_unit.get(f"/campaigns/{theirs.pk}/").status_code == 404


def test_the_dpo_reads_but_does_not_change(client_for, comms):
    draft = campaign(comms)
    dpo = client_for("data_protection_officer")
    assert dpo.get(f"/campaigns/{draft.pk}/").status_code == 200
    assert dpo.get(f"/campaigns/{draft.pk}/results/").status_code == 200
    assert dpo.post(f"/campaigns/{draft.pk}/action/cancel/").status_code == 403
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT


def test_email_templates_are_checked_and_a_campaign_starts_from_one(client, comms):
    bad = client.post(
        "/campaigns/templates/new/",
        {
            "name": "Verano",
            "language": "es",
            "subject": "Hola {{ person.birth_date }}",
            "html_body": "<p>Hola</p>",
            "text_body": "Hola",
        },
    )
    assert bad.status_code == 200
    assert "person.birth_date" in " ".join(bad.context["form"].errors["subject"])
    assert not EmailTemplate.objects.exists()
    client.post(
        "/campaigns/templates/new/",
        {
            "name": "Verano",
            "language": "es",
            "subject": "Verano, {{ person.given_name }}",
            "html_body": "<p>Consejos de verano</p>",
            "text_body": "Consejos de verano",
        },
    )
    template = EmailTemplate.objects.get()
    assert "Verano" in client.get("/campaigns/templates/").text
    draft = campaign(comms)
    assert "use-template" in client.get(f"/campaigns/{draft.pk}/email/").text
    response = client.post(f"/campaigns/{draft.pk}/email/use-template/", {"template": template.pk})
    assert response["Location"] == f"/campaigns/{draft.pk}/email/"
    draft.refresh_from_db()
    assert draft.email_subject == "Verano, {{ person.given_name }}"
    assert draft.email_text == "Consejos de verano"
    assert AuditEvent.objects.filter(
        object_type="campaigns.emailtemplate", object_id=str(template.pk), action="create"
    ).exists()
