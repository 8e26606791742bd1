"""Visits and inspections: planning (the checklist copied from its type), who sees which visit
(an inspector only their own, promotion staff their units'), recording what was found with
photos cleaned of their metadata, finishing (into the timeline), cancelling, forms that keep
what was typed, and the case or opportunity a visit opens."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases.models import Case
from citizens.models import Interaction
from citizens.services import organization_create, person_create
from crm.models import AuditEvent
from sales.models import ChecklistItem, Visit, VisitFile, VisitStatus, VisitType
from tests.cases.public_helpers import has_gps, jpeg_with_gps
from tests.sales.fieldwork_helpers import at, plan, team

pytestmark = pytest.mark.django_db
__all__ = ["team"]


@pytest.fixture(autouse=True)
def files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def logged(client, user):
    client.force_login(user)
    return client


def test_planning_copies_the_checklist_and_later_template_changes_do_not_touch_it(team):
    visit = plan(team["inspector"])
    ChecklistItem.objects.filter(visit_type=visit.visit_type).update(text="Cambiado")
    assert [item.text for item in visit.checklist.all()] == [
        "Licencia expuesta",
        "Extintores revisados",
    ]
    assert visit.status == VisitStatus.PLANNED
    assert list(visit.assignees.all()) == [team["inspector"]]
    assert AuditEvent.objects.filter(object_type="sales.visit", action="create").count() == 1


def test_the_plan_form_creates_a_visit_for_a_person(client, team):
    person = person_create(actor=None, given_name="Lucía", first_surname="Pardo")
    user = team["promoter"]
    response = logged(client, user).get(f"/sales/visits/new/?person={person.pk}")
    assert response.status_code == 200
    assert "Lucía Pardo" in response.text
    response = client.post(
        "/sales/visits/new/",
        {
            "visit_type": VisitType.objects.get(code="inspeccion-prueba").pk,
            "person": person.pk,
            "place_address": "Calle Luna 3",
            "starts_at": "2026-11-10T10:00",
            "ends_at": "2026-11-10T11:30",
            "purpose": "Revisión",
            "assignees": [team["inspector"].pk, user.pk],
            "unit": team["inspector"].memberships.get().unit_id,
        },
    )
    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sales/visits/{visit.pk}/"
    assert visit.person == person
    assert visit.starts_at == at(2026, 11, 10, 10)
    assert set(visit.assignees.all()) == {team["inspector"], user}


def test_a_bad_plan_is_answered_next_to_the_field_and_keeps_what_was_typed(client, team):
    response = logged(client, team["inspector"]).post(
        "/sales/visits/new/",
        {
            "visit_type": VisitType.objects.get(code="inspeccion-prueba").pk,
            "place_address": "Calle Sol 9",
            "starts_at": "2026-11-10T12:00",
            "ends_at": "2026-11-10T11:00",
            "purpose": "Revisión",
            "assignees": [team["inspector"].pk],
        },
    )
    assert response.status_code == 400
    assert "The end comes before the start." in response.text or "antes" in response.text
    assert 'value="Calle Sol 9"' in response.text
    assert not Visit.objects.exists()


def test_an_inspector_may_not_assign_a_colleague(client, team):
    response = logged(client, team["inspector"]).post(
        "/sales/visits/new/",
        {
            "visit_type": VisitType.objects.get(code="inspeccion-prueba").pk,
            "place_address": "Calle Sol 9",
            "starts_at": "2026-11-10T10:00",
            "ends_at": "2026-11-10T11:00",
            "purpose": "Revisión",
            "assignees": [team["other"].pk],
        },
    )
    assert response.status_code == 400
    assert not Visit.objects.exists()


def test_an_inspector_sees_only_their_own_visits(client, team):
    mine = plan(team["inspector"], purpose="La mía")
    theirs = plan(team["other"], purpose="La de Óscar")
    client = logged(client, team["inspector"])
    listing = client.get("/sales/visits/")
    assert f"/sales/visits/{mine.pk}/" in listing.text
    assert f"/sales/visits/{theirs.pk}/" not in listing.text
    assert client.get(f"/sales/visits/{theirs.pk}/").status_code == 404
    assert client.get(f"/sales/visits/{mine.pk}/").status_code == 200
    assert set(Visit.objects.for_user(team["inspector"])) == {mine}


def test_promotion_staff_see_the_visits_of_their_units_only(client, team, units):
    ours = plan(team["inspector"], unit=units["urbanismo"])
    below = plan(team["inspector"], unit=units["licencias"])
    elsewhere = plan(team["elsewhere"], unit=units["servicios-sociales"])
    assert set(Visit.objects.for_user(team["promoter"])) == {ours, below}
    client = logged(client, team["promoter"])
    assert client.get(f"/sales/visits/{ours.pk}/").status_code == 200
    assert client.get(f"/sales/visits/{elsewhere.pk}/").status_code == 404


def photo_upload(name: str = "IMG_0001.JPG") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_with_gps(), content_type="image/jpeg")


def test_recording_a_visit_keeps_the_answers_and_a_photo_without_its_metadata(client, team):
    visit = plan(team["inspector"])
    first, second = visit.checklist.all()
    response = logged(client, team["inspector"]).post(
        f"/sales/visits/{visit.pk}/",
        {
            f"answer_{first.pk}": "yes",
            f"note_{first.pk}": "En la entrada",
            f"answer_{second.pk}": "no",
            "outcome": "",
            "notes": "Volver en un mes",
            "photos": photo_upload(),
            "save": "1",
        },
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.PLANNED
    assert visit.notes == "Volver en un mes"
    first.refresh_from_db()
    assert (first.answer, first.note) == ("yes", "En la entrada")
    stored = VisitFile.objects.get(visit=visit)
    with stored.file.open("rb") as kept:
        content = kept.read()
    assert stored.content_type == "image/jpeg"
    assert not has_gps(content)
    assert b"SERIAL-123456" not in content
    with Image.open(io.BytesIO(content)) as image:
        assert not image.getexif()
    download = client.get(f"/sales/visits/{visit.pk}/files/{stored.pk}/")
    assert download.status_code == 200
    assert "no-store" in download["Cache-Control"]
    assert download.content == content


def test_a_file_that_is_not_what_it_claims_is_refused_and_nothing_is_saved(client, team):
    visit = plan(team["inspector"])
    fake = SimpleUploadedFile("foto.jpg", b"<html>no</html>", content_type="image/jpeg")
    response = logged(client, team["inspector"]).post(
        f"/sales/visits/{visit.pk}/", {"notes": "Algo", "photos": fake, "save": "1"}
    )
    assert response.status_code == 400
    assert "foto.jpg" in response.text
    visit.refresh_from_db()
    assert visit.notes == ""
    assert not VisitFile.objects.exists()


def test_finishing_needs_an_outcome_then_enters_the_timeline(client, team):
    person = person_create(actor=None, given_name="Lucía")
    visit = plan(team["inspector"], person=person)
    client = logged(client, team["inspector"])
    refused = client.post(f"/sales/visits/{visit.pk}/", {"outcome": "", "finish": "1"})
    assert refused.status_code == 400
    assert Visit.objects.get().status == VisitStatus.PLANNED
    done = client.post(f"/sales/visits/{visit.pk}/", {"outcome": "Todo en orden", "finish": "1"})
    assert done.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE
    interaction = Interaction.objects.get(person=person)
    assert interaction.related_type == "sales.visit"
    assert interaction.related_id == visit.pk
    assert interaction.channel == "in_person"
    # The 360° page shows the visit and links the timeline entry to it.
    page = client.get(f"/citizens/people/{person.pk}/")
    assert page.status_code == 200
    assert f"/sales/visits/{visit.pk}/" in page.text
    assert "Visits and tasks" in page.text or "Visitas y tareas" in page.text


def test_cancelling_needs_a_reason(client, team):
    visit = plan(team["inspector"])
    client = logged(client, team["inspector"])
    assert client.post(f"/sales/visits/{visit.pk}/cancel/", {"reason": ""}).status_code == 400
    assert (
        client.post(f"/sales/visits/{visit.pk}/cancel/", {"reason": "Cerrado"}).status_code == 302
    )
    visit.refresh_from_db()
    assert (visit.status, visit.cancel_reason) == (VisitStatus.CANCELLED, "Cerrado")
    # Nothing more is recorded on a cancelled visit.
    assert client.post(f"/sales/visits/{visit.pk}/", {"notes": "x"}).status_code == 400


def test_a_colleague_who_is_not_assigned_may_not_record_it(client, team):
    visit = plan(team["inspector"])
    assert logged(client, team["other"]).post(f"/sales/visits/{visit.pk}/", {}).status_code == 404


def test_a_visit_opens_a_case_with_its_photos(client, team, make_user, units):
    from cases.models import CaseType

    person = person_create(actor=None, given_name="Lucía", first_surname="Pardo")
    handler = make_user(roles=["promotion", "case_handler"], username="hector")
    visit = plan(handler, person=person, unit=units["urbanismo"])
    client = logged(client, handler)
    client.post(f"/sales/visits/{visit.pk}/", {"photos": photo_upload(), "save": "1"})
    page = client.get(f"/sales/visits/{visit.pk}/")
    assert "case-case_type" in page.text
    response = client.post(
        f"/sales/visits/{visit.pk}/case/",
        {
            "case-case_type": CaseType.objects.get(code="aviso").pk,
            "case-unit": units["urbanismo"].pk,
            "case-subject": "Local sin licencia",
            "case-text": "Se observa actividad sin licencia expuesta.",
            "case-attach_files": "on",
        },
    )
    assert response.status_code == 302, response.text[response.text.find("alert-danger") :][:1500]
    case = Case.objects.get()
    visit.refresh_from_db()
    assert visit.case == case
    assert case.person == person
    assert case.channel == "in_person"
    assert case.place_address == visit.place_address
    assert case.attachments.count() == 1
    # An inspector (no cases permission) is not offered it, and is refused.
    visit2 = plan(team["inspector"], person=person)
    inspector = logged(client, team["inspector"])
    assert "case-case_type" not in inspector.get(f"/sales/visits/{visit2.pk}/").text
    refused = inspector.post(
        f"/sales/visits/{visit2.pk}/case/",
        {
            "case-case_type": CaseType.objects.get(code="aviso").pk,
            "case-subject": "x",
            "case-text": "y",
        },
    )
    assert refused.status_code == 403


def test_a_visit_opens_an_opportunity_for_its_organisation(client, team, units):
    from sales.models import Opportunity, Pipeline

    organization = organization_create(actor=None, name="Hostal Sol", tax_id="B12345674")
    promoter = team["promoter"]
    visit = plan(promoter, organization=organization, unit=units["urbanismo"])
    pipeline = Pipeline.objects.order_by("id").first()
    if pipeline is None:
        pytest.skip("no pipeline seeded")
    response = logged(client, promoter).post(
        f"/sales/visits/{visit.pk}/opportunity/",
        {
            "opportunity-pipeline": pipeline.pk,
            "opportunity-title": "Patrocinio de la feria",
            "opportunity-amount": "1500",
        },
    )
    assert response.status_code == 302, response.text[:2000]
    opportunity = Opportunity.objects.get()
    visit.refresh_from_db()
    assert visit.opportunity == opportunity
    assert opportunity.organization == organization
    # An inspector may not open opportunities.
    visit2 = plan(team["inspector"], organization=organization)
    refused = logged(client, team["inspector"]).post(
        f"/sales/visits/{visit2.pk}/opportunity/",
        {"opportunity-pipeline": pipeline.pk, "opportunity-title": "X"},
    )
    assert refused.status_code == 403


def test_editing_keeps_the_type_and_moves_the_calendar_rows(client, team):
    visit = plan(team["promoter"], assignees=[team["inspector"]])
    response = logged(client, team["promoter"]).post(
        f"/sales/visits/{visit.pk}/edit/",
        {
            "place_address": "Calle Nueva 2",
            "starts_at": "2026-11-20T09:00",
            "ends_at": "2026-11-20T10:00",
            "purpose": "Revisión",
            "assignees": [team["inspector"].pk, team["other"].pk],
        },
    )
    assert response.status_code == 302, response.text[:3000]
    visit.refresh_from_db()
    assert visit.place_address == "Calle Nueva 2"
    rows = visit.assignments.order_by("user_id")
    assert [row.starts_at for row in rows] == [at(2026, 11, 20, 9)] * 2


def test_the_360_panel_lists_visits_and_tasks_in_one_query(team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import unit_ids_for_user
    from sales.fieldwork_panels import organization_fieldwork, person_fieldwork
    from tests.sales.fieldwork_helpers import add_task

    person = person_create(actor=None, given_name="Lucía")
    promoter = team["promoter"]
    visit = plan(team["inspector"], person=person)
    task = add_task(team["inspector"], person=person, title="Llamar a Lucía")
    plan(team["elsewhere"], person=person)  # another unit's: not shown
    promoter.has_perm("sales.access")  # permissions and units are read once per request
    unit_ids_for_user(promoter)
    with CaptureQueriesContext(connection) as queries:
        panel = person_fieldwork(person, promoter)
    assert len(queries) == 1
    assert [item["url"] for item in panel.context["items"]] == [
        f"/sales/tasks/{task.pk}/",
        f"/sales/visits/{visit.pk}/",
    ]
    assert panel.context["plan_url"] == f"/sales/visits/new/?person={person.pk}"
    organization = organization_create(actor=None, name="Hostal")
    assert organization_fieldwork(organization, promoter).context["items"] == []
    assert person_fieldwork(person, team["other"]).context["items"] == []
