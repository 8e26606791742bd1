"""Every URL of every module, asked as every role and as an anonymous visitor.

Later modules add their URLs to MATRIX. The expected roles are written out here from the
issue's table, not derived from crm.roles, so that a wrong role catalogue fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from citizens.services import organization_create, person_create
from tests.conftest import ROLE_CODES
from tests.reports import helpers_builder as builder_helpers

ADMIN = "administrator"
SERVICE = "citizen_service"
HANDLER = "case_handler"
COMMUNICATION = "communication"
PROMOTION = "promotion"
INSPECTOR = "inspector"
MANAGEMENT = "management"
DPO = "data_protection_officer"

MODULE_ROLES = {
    "/citizens/": {ADMIN, SERVICE, HANDLER, COMMUNICATION, PROMOTION, INSPECTOR, DPO},
    "/cases/": {ADMIN, SERVICE, HANDLER, DPO},
    "/campaigns/": {ADMIN, COMMUNICATION, DPO},
    "/sales/": {ADMIN, PROMOTION, INSPECTOR, DPO},
    "/reports/": {ADMIN, SERVICE, HANDLER, COMMUNICATION, PROMOTION, INSPECTOR, MANAGEMENT, DPO},
    "/audit/": {ADMIN, DPO},
}


@dataclass(frozen=True)
class Case:
    path: str  # the URL, or its pattern when ``build`` makes it (e.g. "/citizens/people/<pk>/")
    allowed: frozenset[str]
    denied_status: int = 403
    anonymous_redirect: str = "/accounts/login/"
    build: Callable[[], str] | None = None  # makes the record the URL needs, returns the URL
    public: bool = False  # a page of the public site: 200 for every role and for anonymous
    method: str = "get"  # "post" for the actions (POST-only URLs)
    data: Callable[[], dict] | None = None  # what is posted (made after ``build``)
    ok_status: int = 200  # for the allowed roles (a POST action redirects: 302)


def person_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        return f"/citizens/people/{person_create(actor=None, given_name='Ana').pk}/{suffix}"

    return build


def organization_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        pk = organization_create(actor=None, name="Asociación").pk
        return f"/citizens/organisations/{pk}/{suffix}"

    return build


def duplicate_url() -> str:
    from citizens.models import DuplicatePair

    first, second = (person_create(actor=None, given_name="Ana").pk for _twice in range(2))
    pair = DuplicatePair.objects.create(person_a_id=first, person_b_id=second, score=100)
    return f"/citizens/duplicates/{pair.pk}/"


def public_verification_url(suffix: str = "") -> Callable[[], str]:
    """A document issued with a verification code; the rate limit of the checks starts afresh."""

    def build() -> str:
        from django.core.cache import cache

        from crm.documents import issue_document
        from crm.public_views import attempts_key

        cache.delete(attempts_key("127.0.0.1"))
        document = issue_document(
            kind="receipt",
            title="Justificante",
            template_name="pdf/base.html",
            context={},
            actor=None,
        )
        return f"/sede/verificar/{suffix.format(code=document.display_code)}"

    return build


def staff_case_url(suffix: str = "", *, status: str = "", uploads: bool = False, extra=None):
    """A case of Urbanismo (the unit ``make_user`` gives), filed on the public site."""

    def build() -> str:
        from cases.models import Case as CaseRecord
        from cases.models import CaseType
        from cases.services import Filer, Upload, case_file
        from crm.models import Unit

        files = [Upload("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")] if uploads else []
        case = case_file(
            case_type=CaseType.objects.get(code="queja"),
            filer=Filer(given_name="Ana", email="ana@example.org"),
            subject="Farola",
            text="Apagada",
            unit=Unit.objects.get(code="urbanismo"),
            uploads=files,
        ).case
        if status:
            CaseRecord.objects.filter(pk=case.pk).update(status=status)
        return f"/cases/{case.pk}/{extra(case) if extra else suffix}"

    return build


def first_case_number() -> dict:
    from cases.models import Case as CaseRecord

    return {"duplicate-original": CaseRecord.objects.order_by("pk").first().registry_number}


def case_duplicate_url() -> str:
    staff_case_url()()  # the original
    return staff_case_url("duplicate/")()


def unit_pk(code: str) -> int:
    from crm.models import Unit

    return Unit.objects.get(code=code).pk


def case_task_url() -> str:
    def task(case) -> str:
        from cases.models import CaseTask
        from crm.models import Unit

        unit = Unit.objects.get(code="servicios-sociales")
        task = CaseTask.objects.create(case=case, unit=unit, description="Informe")
        return f"tasks/{task.pk}/complete/"

    return staff_case_url(extra=task)()


def case_receipt_url() -> str:
    def receipt(case) -> str:
        from cases.models import Case as CaseRecord
        from crm.documents import issue_document

        document = issue_document(
            kind="receipt", title="Justificante", template_name="pdf/base.html", context={}
        )
        CaseRecord.objects.filter(pk=case.pk).update(receipt=document)
        return "documents/receipt/"

    return staff_case_url(extra=receipt)()


def case_attachment_url() -> str:
    return staff_case_url(
        uploads=True, extra=lambda case: f"attachments/{case.attachments.get().pk}/"
    )()


def saved_view_delete_url() -> str:
    """A view of the user asking (the last one created; anonymous: someone's)."""
    from cases.models import SavedView
    from crm.models import User

    owner = User.objects.order_by("-pk").first() or User.objects.create_user("owner")
    view = SavedView.objects.create(user=owner, name="Mías", query="assignee=me")
    return f"/cases/views/{view.pk}/delete/"


# --- Field work (sales): records of Urbanismo, assigned to the user asking (the last one made) --


def _fieldwork_requester():
    from crm.models import User

    return User.objects.order_by("-pk").first() or User.objects.create_user("owner")


def fieldwork_visit_url(suffix: str = "", *, with_file: bool = False) -> Callable[[], str]:
    """A planned visit of Urbanismo assigned to the user asking (made without the services,
    which would refuse to assign it to who does no field work)."""

    def build() -> str:
        from datetime import timedelta

        from django.core.files.base import ContentFile
        from django.utils import timezone

        from crm.models import Unit
        from sales.models import Visit, VisitAssignee, VisitFile, VisitType

        visit_type, _new = VisitType.objects.get_or_create(code="matriz", name="Matriz")
        start = timezone.now() + timedelta(days=1)
        visit = Visit.objects.create(
            visit_type=visit_type,
            place_address="Calle Mayor 1",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            purpose="Inspección",
            unit=Unit.objects.get(code="urbanismo"),
        )
        VisitAssignee.objects.create(
            visit=visit, user=_fieldwork_requester(), starts_at=start, ends_at=visit.ends_at
        )
        if with_file:
            record = VisitFile(
                visit=visit, name="acta.pdf", content_type="application/pdf", size=15, sha256="0"
            )
            record.file.save("acta.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"), save=False)
            record.save()
            suffix_now = f"files/{record.pk}/"
        else:
            suffix_now = suffix
        return f"/sales/visits/{visit.pk}/{suffix_now}"

    return build


def fieldwork_task_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        from datetime import timedelta

        from django.utils import timezone

        from crm.models import Unit
        from sales.models import Task

        task = Task.objects.create(
            title="Enviar el acta",
            due_at=timezone.now() + timedelta(days=1),
            assignee=_fieldwork_requester(),
            unit=Unit.objects.get(code="urbanismo"),
        )
        return f"/sales/tasks/{task.pk}/{suffix}"

    return build


def fieldwork_meeting_url() -> str:
    from datetime import timedelta

    from django.utils import timezone

    from crm.models import Unit
    from sales.models import Meeting, MeetingAttendee

    start = timezone.now() + timedelta(days=1)
    user = _fieldwork_requester()
    meeting = Meeting.objects.create(
        title="Coordinación",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        organizer=user,
        unit=Unit.objects.get(code="urbanismo"),
    )
    MeetingAttendee.objects.create(meeting=meeting, user=user, starts_at=start, ends_at=start)
    return f"/sales/meetings/{meeting.pk}/"


def fieldwork_feed_url() -> str:
    """A calendar feed's secret URL (public: no login needed)."""
    from crm.models import User
    from sales.fieldwork import feed_token_hash
    from sales.models import CalendarFeed

    owner = User.objects.create_user(f"feed-owner-{User.objects.count()}")
    CalendarFeed.objects.create(user=owner, token_hash=feed_token_hash("secreto-de-prueba"))
    return "/sales/calendar/feed/secreto-de-prueba.ics"


def document_job_url(suffix: str = "") -> Callable[[], str]:
    """A finished document job of another user (reports.jobs), with its file."""

    def build() -> str:
        from crm.models import User
        from reports.jobs import run_job
        from reports.models import DocumentJob

        owner = User.objects.create_user(f"document-owner-{User.objects.count()}")
        job = DocumentJob.objects.create(owner=owner, kind="table", title="Informe", params={
            "columns": [{"label": "Unidad"}], "sections": [{"heading": None, "rows": [["A"]]}],
        })  # fmt: skip
        run_job(job.pk, token="matrix")
        return f"/reports/documents/{job.pk}/{suffix}"

    return build


@pytest.fixture(autouse=True)
def issued_files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


CITIZENS_READ = frozenset(MODULE_ROLES["/citizens/"])
CASES_READ = frozenset(MODULE_ROLES["/cases/"])
CASES_ROUTE = frozenset({ADMIN, SERVICE, HANDLER})  # assign, tasks, comments, register
CASES_HANDLE = frozenset({ADMIN, HANDLER})  # work on, ask, answer, close, reject...
CITIZENS_WRITE = frozenset({ADMIN, SERVICE, PROMOTION})
FIELDWORK_READ = frozenset(MODULE_ROLES["/sales/"])
FIELD_WORK = frozenset({ADMIN, PROMOTION, INSPECTOR})  # plan and record visits, tasks, meetings
FUNNEL_READ = frozenset({ADMIN, PROMOTION, DPO})  # leads, opportunities, quotes (not inspectors)
FUNNEL_MANAGE = frozenset({ADMIN, PROMOTION})


def funnel_opportunity_url(suffix: str = "") -> Callable[[], str]:
    """An open opportunity of a seeded pipeline; its URL with ``suffix``."""

    def build() -> str:
        from sales.models import Opportunity, Pipeline

        pipeline = Pipeline.objects.order_by("order").first()
        opportunity = Opportunity.objects.create(
            title="Patrocinio",
            organization=organization_create(actor=None, name="Patrocinadora"),
            pipeline=pipeline,
            stage=pipeline.stages.order_by("order").first(),
        )
        return f"/sales/opportunities/{opportunity.pk}/{suffix}"

    return build


def funnel_next_stage() -> dict:
    from sales.models import Opportunity

    opportunity = Opportunity.objects.order_by("-pk").first()
    return {"stage": opportunity.pipeline.stages.order_by("order")[1].pk}


def funnel_line_data() -> dict:
    from sales.models import Product

    product, _created = Product.objects.get_or_create(
        code="stand", defaults={"name": "Stand", "price": 100}
    )
    return {"product": product.pk, "quantity": "2"}


def funnel_lead_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        from sales.services import lead_create

        lead = lead_create(actor=None, source="web_form", given_name="Luis", email="l@x.es")
        return f"/sales/leads/{lead.pk}/{suffix}"

    return build


def funnel_convert_data() -> dict:
    from sales.models import Pipeline

    pipeline = Pipeline.objects.first().pk
    return {"title": "Curso", "pipeline": pipeline, "amount": "0", "currency": "EUR"}


def funnel_quote_url(suffix: str = "", *, sent: bool = False) -> Callable[[], str]:
    def build() -> str:
        from sales.models import Opportunity, Quote, QuoteLine, QuoteVersion

        funnel_opportunity_url()()
        opportunity = Opportunity.objects.order_by("-pk").first()
        quote = Quote.objects.create(opportunity=opportunity, number=f"PRE-T-{opportunity.pk}")
        version = QuoteVersion.objects.create(
            quote=quote, version=1, status="sent" if sent else "draft"
        )
        QuoteLine.objects.create(
            version=version, description="Stand", quantity=1, unit_price=100, vat_rate=21
        )
        return f"/sales/quotes/{quote.pk}/{suffix}"

    return build


def sending_url(suffix: str = "", status: str = "draft") -> Callable[[], str]:
    """A campaign (email to one consenting person) in ``status``; "failed": running with a
    failed message. Its sending URL with ``suffix``."""

    def build() -> str:
        from campaigns.models import Campaign, Delivery
        from tests.campaigns.test_sending import make_campaign, make_people, make_purpose

        purpose = make_purpose()
        people = make_people(1, purpose, start=Campaign.objects.count() * 10)
        campaign = make_campaign(people, purpose)
        if status != "draft":
            Campaign.objects.filter(pk=campaign.pk).update(
                status="running" if status == "failed" else status
            )
            Delivery.objects.create(
                campaign=campaign,
                person=people[0],
                email="x@example.org",
                status="failed" if status == "failed" else "pending",
            )
        return f"/campaigns/{campaign.pk}/sending/{suffix}"

    return build


CAMPAIGNS_READ = frozenset(MODULE_ROLES["/campaigns/"])
CAMPAIGNS_MANAGE = frozenset({ADMIN, COMMUNICATION})


def campaign_url(suffix: str = "") -> Callable[[], str]:
    """A draft campaign without a unit (every module user sees it) and its URL + suffix."""

    def build() -> str:
        from datetime import date

        from campaigns.models import Campaign

        campaign = Campaign.objects.create(
            name="Vial",
            code=f"vial-{Campaign.objects.count()}",
            starts_on=date(2026, 6, 1),
            ends_on=date(2026, 8, 31),
            channels=["letter"],
        )
        return f"/campaigns/{campaign.pk}/{suffix}"

    return build


def segment_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        from campaigns.models import Segment

        segment = Segment.objects.create(
            name="Mayores", rules={"op": "and", "rules": [{"type": "tags", "values": ["x"]}]}
        )
        return f"/campaigns/segments/{segment.pk}/{suffix}"

    return build


def static_list_url() -> str:
    from campaigns.models import StaticList

    return f"/campaigns/lists/{StaticList.objects.create(name='Lista', source='upload').pk}/"


def unsubscribe_url(suffix: str = "") -> Callable[[], str]:
    def build() -> str:
        from campaigns.mailer import unsubscribe_token

        url = sending_url(status="running")()
        from campaigns.models import Delivery

        delivery = Delivery.objects.filter(campaign_id=int(url.split("/")[2])).get()
        return f"/sede/correo/baja/{unsubscribe_token(delivery.pk)}/{suffix}"

    return build


MATRIX = [
    Case("/", frozenset(ROLE_CODES)),
    *(Case(path, frozenset(roles)) for path, roles in MODULE_ROLES.items()),
    Case("/audit/export/", frozenset({ADMIN, DPO})),
    Case("/audit/?action=login", frozenset({ADMIN, DPO})),
    # The Django admin sends everyone who is not staff to its own login page.
    Case("/admin/", frozenset({ADMIN}), denied_status=302, anonymous_redirect="/admin/login/"),
    Case("/admin/crm/unit/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/crm/auditevent/", frozenset({ADMIN}), 302, "/admin/login/"),
    # Records of people and organisations: read with the module, write with citizens.manage.
    Case("/citizens/people/new/", CITIZENS_WRITE),
    Case("/citizens/people/<pk>/", CITIZENS_READ, build=person_url()),
    Case("/citizens/people/<pk>/edit/", CITIZENS_WRITE, build=person_url("edit/")),
    Case(
        "/citizens/people/<pk>/interactions/new/",
        CITIZENS_WRITE,
        build=person_url("interactions/new/"),
    ),
    Case(
        "/citizens/people/<pk>/relationships/new/",
        CITIZENS_WRITE,
        build=person_url("relationships/new/"),
    ),
    Case("/citizens/organisations/new/", CITIZENS_WRITE),
    Case("/citizens/organisations/<pk>/", CITIZENS_READ, build=organization_url()),
    Case("/citizens/organisations/<pk>/edit/", CITIZENS_WRITE, build=organization_url("edit/")),
    Case(
        "/citizens/organisations/<pk>/teams/new/",
        CITIZENS_WRITE,
        build=organization_url("teams/new/"),
    ),
    # Finding people: lists, caller lookup (no match: the list), export with citizens.export.
    Case("/citizens/?q=garcia&order=newest", CITIZENS_READ),
    Case("/citizens/organisations/", CITIZENS_READ),
    Case("/citizens/lookup/?phone=600123456", CITIZENS_READ),
    Case("/citizens/export/csv/?q=garcia", frozenset({ADMIN, SERVICE})),
    Case("/citizens/export/xlsx/", frozenset({ADMIN, SERVICE})),
    Case("/admin/citizens/customfield/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/citizens/person/", frozenset({ADMIN}), 302, "/admin/login/"),
    # Imports (each job is its uploader's only: tests/citizens/test_import.py).
    Case("/citizens/import/", CITIZENS_WRITE),
    # Possible duplicates: reviewed and merged by who manages citizens.
    Case("/citizens/duplicates/", CITIZENS_WRITE),
    Case("/citizens/duplicates/<pk>/", CITIZENS_WRITE, build=duplicate_url),
    Case("/admin/citizens/deduperule/", frozenset({ADMIN}), 302, "/admin/login/"),
    # The public site (sede electrónica): no login, the same page for everyone.
    Case("/sede/verificar/", frozenset(ROLE_CODES), public=True),
    Case(
        "/sede/verificar/?code=<code>",
        frozenset(ROLE_CODES),
        public=True,
        build=public_verification_url("?code={code}"),
    ),
    Case(
        "/sede/verificar/<code>/descargar/",
        frozenset(ROLE_CODES),
        public=True,
        build=public_verification_url("{code}/descargar/"),
    ),
    # Cases on the public site: the forms of every type seeded, receipt, tracking, statement.
    Case("/sede/", frozenset(ROLE_CODES), public=True),
    *(
        Case(f"/sede/{code}/", frozenset(ROLE_CODES), public=True)
        for code in (
            "queja",
            "sugerencia",
            "solicitud-informacion",
            "felicitacion",
            "aviso",
            "alegacion",
            "propuesta",
        )
    ),
    Case("/sede/justificante/", frozenset(ROLE_CODES), public=True),
    Case("/sede/seguimiento/", frozenset(ROLE_CODES), public=True),
    Case("/sede/accesibilidad/", frozenset(ROLE_CODES), public=True),
    # Cases, staff side: the queue and its views, registering, the case page and its actions.
    Case("/cases/?view=mine", CASES_READ),
    Case("/cases/?status=open&deadline=overdue&q=farola", CASES_READ),
    Case(
        "/cases/views/",
        CASES_READ,
        method="post",
        data=lambda: {"name": "Atrasados", "query": "deadline=overdue"},
        ok_status=302,
    ),
    Case(
        "/cases/views/<pk>/delete/",
        CASES_READ,
        build=saved_view_delete_url,
        method="post",
        ok_status=302,
    ),
    Case("/cases/new/", CASES_ROUTE),
    Case("/cases/<pk>/", CASES_READ, build=staff_case_url()),
    Case("/cases/<pk>/articles/?q=farola", CASES_READ, build=staff_case_url("articles/?q=farola")),
    Case("/cases/<pk>/attachments/<id>/", CASES_READ, build=case_attachment_url),
    Case("/cases/<pk>/documents/receipt/", CASES_READ, build=case_receipt_url),
    *(
        Case(
            f"/cases/<pk>/{route}/",
            allowed,
            build=staff_case_url(f"{route}/", status=status),
            method="post",
            data=data,
            ok_status=302,
        )
        for route, allowed, status, data in (
            ("assign", CASES_ROUTE, "", lambda: {"assign-unit": unit_pk("urbanismo")}),
            ("start", CASES_HANDLE, "", dict),
            (
                "request-information",
                CASES_HANDLE,
                "",
                lambda: {"request_information-text": "¿Dónde?"},
            ),
            ("comment", CASES_ROUTE, "", lambda: {"comment-text": "Nota"}),
            ("answer", CASES_HANDLE, "", lambda: {"answer-text": "Arreglada"}),
            ("close", CASES_HANDLE, "answered", dict),
            ("reject", CASES_HANDLE, "", lambda: {"reject-reason": "Anónima"}),
            ("forward", CASES_HANDLE, "", lambda: {"forward-administration": "Estado"}),
            (
                "tasks/new",
                CASES_ROUTE,
                "",
                lambda: {"task_add-unit": unit_pk("licencias"), "task_add-description": "Informe"},
            ),
        )
    ),
    Case(
        "/cases/<pk>/duplicate/",
        CASES_HANDLE,
        build=case_duplicate_url,
        method="post",
        data=first_case_number,
        ok_status=302,
    ),
    Case(
        "/cases/<pk>/tasks/<id>/complete/",
        CASES_HANDLE,
        build=case_task_url,
        method="post",
        ok_status=302,
    ),
    Case("/admin/cases/casetype/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/cases/subjectarea/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/cases/hearing/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/cases/knowledgearticle/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/cases/case/?q=QS-2026-000001", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/crm/issueddocument/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/crm/registrycounter/", frozenset({ADMIN}), 302, "/admin/login/"),
    # Field work (sales): read with the module, planned and recorded with sales.field_work
    # (inspectors: their own), promotion staff for their units; the DPO only reads.
    Case("/sales/visits/", FIELDWORK_READ),
    Case("/sales/visits/?status=planned&mine=true", FIELDWORK_READ),
    Case("/sales/visits/new/", FIELD_WORK),
    Case("/sales/visits/<pk>/", FIELDWORK_READ, build=fieldwork_visit_url()),
    Case("/sales/visits/<pk>/edit/", FIELD_WORK, build=fieldwork_visit_url("edit/")),
    Case(
        "/sales/visits/<pk>/",
        FIELD_WORK,
        build=fieldwork_visit_url(),
        method="post",
        data=lambda: {"notes": "Nota", "save": "1"},
        ok_status=302,
    ),
    Case(
        "/sales/visits/<pk>/cancel/",
        FIELD_WORK,
        build=fieldwork_visit_url("cancel/"),
        method="post",
        data=lambda: {"reason": "Cerrado"},
        ok_status=302,
    ),
    Case(
        "/sales/visits/<pk>/files/<id>/", FIELDWORK_READ, build=fieldwork_visit_url(with_file=True)
    ),
    Case("/sales/tasks/", FIELDWORK_READ),
    Case("/sales/tasks/new/", FIELD_WORK),
    Case("/sales/tasks/<pk>/", FIELD_WORK, build=fieldwork_task_url()),
    Case(
        "/sales/tasks/<pk>/done/",
        FIELD_WORK,
        build=fieldwork_task_url("done/"),
        method="post",
        ok_status=302,
    ),
    Case("/sales/meetings/new/", FIELD_WORK),
    Case("/sales/meetings/<pk>/", FIELDWORK_READ, build=fieldwork_meeting_url),
    Case("/sales/calendar/", FIELDWORK_READ),
    Case("/sales/calendar/?view=week&date=2026-11-10", FIELDWORK_READ),
    Case("/sales/calendar/?view=agenda", FIELDWORK_READ),
    Case("/sales/calendar/subscribe/", FIELDWORK_READ),
    Case("/sales/calendar/subscribe/new/", FIELDWORK_READ, method="post", ok_status=302),
    Case("/sales/calendar/subscribe/revoke/", FIELDWORK_READ, method="post", ok_status=302),
    Case(
        "/sales/calendar/feed/<token>.ics",
        frozenset(ROLE_CODES),
        public=True,
        build=fieldwork_feed_url,
    ),
    Case("/admin/sales/visittype/", frozenset({ADMIN}), 302, "/admin/login/"),
    # The funnel (sales): promotion manages; the DPO and administrators read; inspectors and
    # every other role get 403.
    Case("/sales/leads/", FUNNEL_READ),
    Case("/sales/leads/?status=open&source=fair&q=luis", FUNNEL_READ),
    Case("/sales/leads/new/", FUNNEL_MANAGE),
    Case("/sales/leads/<pk>/", FUNNEL_READ, build=funnel_lead_url()),
    Case("/sales/leads/<pk>/edit/", FUNNEL_MANAGE, build=funnel_lead_url("edit/")),
    *(
        Case(
            f"/sales/leads/<pk>/{route}/",
            FUNNEL_MANAGE,
            build=funnel_lead_url(f"{route}/"),
            method="post",
            data=data,
            ok_status=302,
        )
        for route, data in (
            ("status", lambda: {"status": "contacted"}),
            ("note", lambda: {"note": "Llamado"}),
            ("convert", funnel_convert_data),
        )
    ),
    Case("/sales/board/", FUNNEL_READ, ok_status=302),
    Case("/sales/opportunities/", FUNNEL_READ),
    Case("/sales/opportunities/?status=open&order=close&owner=me", FUNNEL_READ),
    Case("/sales/opportunities/new/", FUNNEL_MANAGE),
    Case("/sales/opportunities/<pk>/", FUNNEL_READ, build=funnel_opportunity_url()),
    Case("/sales/opportunities/<pk>/edit/", FUNNEL_MANAGE, build=funnel_opportunity_url("edit/")),
    Case(
        "/sales/opportunities/<pk>/move/",
        FUNNEL_MANAGE,
        build=funnel_opportunity_url("move/"),
        method="post",
        data=funnel_next_stage,
        ok_status=302,
    ),
    *(
        Case(
            f"/sales/opportunities/<pk>/{route}/",
            FUNNEL_MANAGE,
            build=funnel_opportunity_url(f"{route}/"),
            method="post",
            data=data,
            ok_status=302,
        )
        for route, data in (
            ("close", lambda: {"outcome": "lost", "reason": "Precio"}),
            ("lines", funnel_line_data),
            ("reopen", dict),
            ("quote", dict),
        )
    ),
    Case("/sales/forecast/", FUNNEL_READ),
    Case("/sales/catalogue/", FUNNEL_READ),
    Case("/sales/quotes/<pk>/", FUNNEL_READ, build=funnel_quote_url()),
    Case("/sales/quotes/<pk>/pdf/", FUNNEL_READ, build=funnel_quote_url("pdf/")),
    Case(
        "/sales/quotes/<pk>/version/",
        FUNNEL_MANAGE,
        build=funnel_quote_url("version/", sent=True),
        method="post",
        ok_status=302,
    ),
    Case(
        "/sales/quotes/<pk>/reject/",
        FUNNEL_MANAGE,
        build=funnel_quote_url("reject/", sent=True),
        method="post",
        ok_status=302,
    ),
    Case(
        "/sales/quotes/<pk>/accept/",
        FUNNEL_MANAGE,
        build=funnel_quote_url("accept/", sent=True),
        method="post",
        ok_status=302,
    ),
    Case("/sede/interes/", frozenset(ROLE_CODES), public=True),
    Case("/admin/sales/pipeline/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/sales/exchangerate/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/sales/product/", frozenset({ADMIN}), 302, "/admin/login/"),
    # Campaigns: the communication role manages, the DPO and administrators read.
    Case("/campaigns/?status=running&q=vial", CAMPAIGNS_READ),
    Case("/campaigns/new/", CAMPAIGNS_MANAGE),
    Case("/campaigns/targets/", CAMPAIGNS_READ),
    Case("/campaigns/segments/new/", CAMPAIGNS_MANAGE),
    Case("/campaigns/lists/upload/", CAMPAIGNS_MANAGE),
    Case("/campaigns/templates/", CAMPAIGNS_READ),
    Case("/campaigns/templates/new/", CAMPAIGNS_MANAGE),
    *(
        Case(f"/campaigns/<pk>/{suffix}", allowed, build=campaign_url(suffix))
        for suffix, allowed in (
            ("", CAMPAIGNS_READ),
            ("results/", CAMPAIGNS_READ),
            ("edit/", CAMPAIGNS_MANAGE),
            ("email/", CAMPAIGNS_MANAGE),
            ("budget/new/", CAMPAIGNS_MANAGE),
            ("objectives/new/", CAMPAIGNS_MANAGE),
            ("interactions/new/", CAMPAIGNS_MANAGE),
        )
    ),
    *(
        Case(
            f"/campaigns/<pk>/{suffix}",
            CAMPAIGNS_MANAGE,
            build=campaign_url(suffix),
            method="post",
            ok_status=302,
        )
        for suffix in ("action/cancel/", "delete/")
    ),
    Case("/campaigns/segments/<pk>/", CAMPAIGNS_READ, build=segment_url()),
    Case("/campaigns/segments/<pk>/edit/", CAMPAIGNS_MANAGE, build=segment_url("edit/")),
    Case(
        "/campaigns/segments/count/",
        CAMPAIGNS_MANAGE,
        method="post",
        data=lambda: {"op": "and", "g0-op": "and", "g0-c0-type": "tags", "g0-c0-values": "x"},
    ),
    Case(
        "/campaigns/segments/<pk>/freeze/",
        CAMPAIGNS_MANAGE,
        build=segment_url("freeze/"),
        method="post",
        ok_status=302,
    ),
    Case("/campaigns/lists/<pk>/", CAMPAIGNS_READ, build=static_list_url),
    Case("/admin/campaigns/campaign/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/campaigns/segment/", frozenset({ADMIN}), 302, "/admin/login/"),
    # Campaign sending (campaigns.views.sending) and its public pages.
    Case(
        "/campaigns/<pk>/sending/",
        frozenset(MODULE_ROLES["/campaigns/"]),
        build=sending_url(status="running"),
    ),
    *(
        Case(
            f"/campaigns/<pk>/sending/{route}/",
            frozenset({ADMIN, COMMUNICATION}),
            build=sending_url(f"{route}/", status=status),
            method="post",
            ok_status=302,
        )
        for route, status in (
            ("launch", "draft"),
            ("pause", "running"),
            ("resume", "paused"),
            ("retry", "failed"),
        )
    ),
    Case("/sede/correo/baja/<token>/", frozenset(ROLE_CODES), public=True, build=unsubscribe_url()),
    Case(
        "/sede/correo/baja/<token>/preferencias/",
        frozenset(ROLE_CODES),
        public=True,
        build=unsubscribe_url("preferencias/"),
    ),
    # annual: the annual complaints report (reports.views.annual): reports.access and cases.
    *(
        Case(path, frozenset({ADMIN, SERVICE, HANDLER, MANAGEMENT, DPO}))
        for path in (
            "/reports/annual/",
            "/reports/annual/?year=2025",
            "/reports/annual/pdf/?year=2025",
            "/reports/annual/csv/?year=2025",
            "/reports/annual/open-data.csv?year=2025",
            "/reports/annual/open-data.json?year=2025",
        )
    ),
    # builder: the report builder (reports.views.builder). Every role uses the reports module;
    # a subject needs its module (or reports.all_units); a saved report shared with every role
    # opens for all (each sees their own rows), exports for those who may count cases, and only
    # its owner changes it; another user's private report does not exist (404).
    Case("/reports/builder/", frozenset(MODULE_ROLES["/reports/"])),
    Case(
        "/reports/builder/new/?subject=cases", frozenset({ADMIN, SERVICE, HANDLER, MANAGEMENT, DPO})
    ),
    Case(
        "/reports/builder/new/?subject=opportunities",
        frozenset({ADMIN, PROMOTION, MANAGEMENT, DPO}),
    ),
    Case(
        "/reports/builder/preview/",
        frozenset({ADMIN, SERVICE, HANDLER, MANAGEMENT, DPO}),
        method="post",
        data=lambda: {
            "subject": "cases",
            "group_1": "unit",
            "filter-TOTAL_FORMS": "0",
            "filter-INITIAL_FORMS": "0",
        },
    ),
    Case(
        "/reports/builder/new/?subject=visits",
        frozenset({ADMIN, PROMOTION, INSPECTOR, MANAGEMENT, DPO}),
    ),
    Case(
        "/reports/builder/<pk>/",
        frozenset(MODULE_ROLES["/reports/"]),
        build=builder_helpers.saved_report_url(),
    ),
    Case(
        "/reports/builder/<pk>/export/csv/",
        frozenset({ADMIN, SERVICE, HANDLER, MANAGEMENT, DPO}),
        denied_status=302,  # back to the report, which says why
        build=builder_helpers.saved_report_url("export/csv/"),
    ),
    *(
        Case(
            f"/reports/builder/<pk>/{action}",
            frozenset(),
            build=builder_helpers.saved_report_url(action),
            method=method,
        )
        for action, method in (
            ("edit/", "get"),
            ("share/", "post"),
            ("schedule/", "post"),
            ("delete/", "post"),
        )
    ),
    Case(
        "/reports/builder/<private>/",
        frozenset(),
        denied_status=404,
        build=builder_helpers.saved_report_url(shared=False),
    ),
    # pdf: My documents (reports.views.documents). Every role lists its own documents; a
    # document (its page and its file) exists for its owner only: a 404 for everyone else.
    Case("/reports/documents/", frozenset(MODULE_ROLES["/reports/"])),
    *(
        Case(
            f"/reports/documents/<pk>/{suffix}",
            frozenset(),
            denied_status=404,
            build=document_job_url(suffix),
        )
        for suffix in ("", "download/")
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [*ROLE_CODES, None], ids=[*ROLE_CODES, "anonymous"])
@pytest.mark.parametrize("case", MATRIX, ids=[case.path for case in MATRIX])
def test_every_url_as_every_role(case, role, client_for):
    client = client_for(role)
    url = case.build() if case.build else case.path
    send = client.post if case.method == "post" else client.get
    response = send(url, case.data() if case.data else {})
    if case.public:
        assert response.status_code == 200
    elif role is None:
        assert response.status_code == 302
        assert response["Location"].startswith(case.anonymous_redirect)
    elif role in case.allowed:
        assert response.status_code == case.ok_status
    else:
        assert response.status_code == case.denied_status
        if case.denied_status == 403:
            assert "Acceso denegado" in response.text  # the 403 page, in the frame


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_CODES)
def test_navigation_shows_exactly_the_modules_of_the_role(role, client_for):
    response = client_for(role).get("/")
    nav = re.search(r'<ul class="navbar-nav[^"]*">(.*?)</ul>', response.text, re.S)
    links = set(re.findall(r'href="(/[a-z]+/)"', nav.group(1))) if nav else set()
    expected = {path for path, roles in MODULE_ROLES.items() if role in roles}
    assert links == expected


@pytest.mark.django_db
def test_roles_add_up(client_for):
    client = client_for(roles=[MANAGEMENT, COMMUNICATION])
    assert client.get("/reports/").status_code == 200
    assert client.get("/campaigns/").status_code == 200
    assert client.get("/sales/").status_code == 403


@pytest.mark.django_db
def test_a_user_without_roles_sees_no_module(client_for):
    client = client_for(roles=[])
    response = client.get("/")
    assert response.status_code == 200
    assert "navbar-nav" not in response.text
    assert client.get("/citizens/").status_code == 403
