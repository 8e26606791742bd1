"""The knowledge base: placeholders filled safely, articles found from the case (by words and
subject area), "use this article" pre-filling the answer without JavaScript, and the admin of
the catalogues and of cases."""

from __future__ import annotations

import re
from datetime import date

import pytest

from cases.knowledge import fill_placeholders, placeholder_values
from cases.models import Case, CaseType, KnowledgeArticle, SubjectArea
from cases.services import case_assign
from crm.models import AuditEvent
from tests.cases.staff import file_case

pytestmark = pytest.mark.django_db

VALUES = {
    "name": "Ana Ruiz",
    "registry_number": "QS-2026-000001",
    "filed_on": "03/02/2026",
    "subject": "Farola",
    "unit": "Urbanismo",
    "handler": "Marta",
    "today": "03/16/2026",
}


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("Estimada {name}: {registry_number}", "Estimada Ana Ruiz: QS-2026-000001"),
        (
            "{subject} ({filed_on}) {unit}, {handler}, {today}",
            "Farola (03/02/2026) Urbanismo, Marta, 03/16/2026",
        ),
        ("{unknown} stays", "{unknown} stays"),
        ("{name.__class__} {name[0]} {0} {}", "{name.__class__} {name[0]} {0} {}"),
        ("a lone } and { brace, {{name}}", "a lone } and { brace, {Ana Ruiz}"),
        ("{{ settings.SECRET_KEY }} {% now 'Y' %}", "{{ settings.SECRET_KEY }} {% now 'Y' %}"),
    ],
)
def test_placeholders_are_filled_and_nothing_else_is_evaluated(text, filled):
    assert fill_placeholders(text, VALUES) == filled


def test_a_value_with_braces_is_not_filled_again():
    assert (
        fill_placeholders("{name} {subject}", {"name": "{subject}", "subject": "x"})
        == "{subject} x"
    )


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",), first_name="Marta", last_name="Gil")


@pytest.fixture
def area(db):
    return SubjectArea.objects.order_by("order").first()


@pytest.fixture
def case(units, area, handler, make_user):
    case = file_case(subject_area=area)
    desk = make_user("citizen_service", unit_codes=("ayto",))
    return case_assign(case=case, actor=desk, unit=units["urbanismo"], assignee=handler)


def test_placeholder_values_of_a_case(case, handler):
    values = placeholder_values(case, user=handler, today=date(2026, 3, 16))
    assert values["name"] == "Ana Ruiz Gil"
    assert values["registry_number"] == case.registry_number
    assert values["subject"] == "Farola apagada"
    assert values["unit"] == "Urbanismo"
    assert values["handler"] == "Marta Gil"
    assert values["today"] == "03/16/2026"


@pytest.fixture
def articles(area):
    other_area = SubjectArea.objects.exclude(pk=area.pk).order_by("order").first()
    return {
        "area": KnowledgeArticle.objects.create(
            title="Alumbrado: reparación", subject_area=area, body="Estimada {name}: reparada."
        ),
        "general": KnowledgeArticle.objects.create(
            title="Acuse general", body="Hemos recibido {registry_number} ({unknown})."
        ),
        "other": KnowledgeArticle.objects.create(
            title="Alumbrado en parques", subject_area=other_area, body="Otro"
        ),
        "inactive": KnowledgeArticle.objects.create(
            title="Alumbrado antiguo", subject_area=area, body="Viejo", active=False
        ),
    }


def titles(html: str) -> list[str]:
    return re.findall(r'<div class="fw-semibold">([^<]+)</div>', html)


def test_articles_are_found_by_words_with_the_case_area_first(case, articles, handler, client):
    client.force_login(handler)
    url = f"/cases/{case.pk}/articles/"
    # No words: the case's area and the general ones.
    assert titles(client.get(url).text) == ["Alumbrado: reparación", "Acuse general"]
    # Words of the title or text, every word; the case's area first, then others.
    assert titles(client.get(url, {"q": "alumbrado"}).text) == [
        "Alumbrado: reparación",
        "Alumbrado en parques",
    ]
    assert titles(client.get(url, {"q": "recibido"}).text) == ["Acuse general"]
    assert titles(client.get(url, {"q": "alumbrado recibido"}).text) == []
    assert "No article matches these words." in client.get(url, {"q": "zzz"}).text


def test_with_htmx_only_the_results_come(case, articles, handler, client):
    client.force_login(handler)
    response = client.get(f"/cases/{case.pk}/articles/", {"q": "acuse"}, HTTP_HX_REQUEST="true")
    assert "<html" not in response.text
    assert titles(response.text) == ["Acuse general"]


def test_use_this_article_fills_the_answer_without_javascript(case, articles, handler, client):
    client.force_login(handler)
    results = client.get(f"/cases/{case.pk}/articles/", {"q": "acuse"}).text
    link = f'href="/cases/{case.pk}/?article={articles["general"].pk}#action-answer"'
    assert link in results

    page = client.get(f"/cases/{case.pk}/", {"article": articles["general"].pk}).text
    answer = re.search(r'<textarea name="answer-text"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert answer.strip() == f"Hemos recibido {case.registry_number} ({{unknown}})."
    assert '<details class="card mb-2 crm-quick-form" id="action-answer" open>' in page
    assert 'id="article-used"' in page

    # An inactive or unknown article fills nothing.
    for article in (articles["inactive"].pk, 999999, "x"):
        page = client.get(f"/cases/{case.pk}/", {"article": article}).text
        answer = re.search(r'<textarea name="answer-text"[^>]*>(.*?)</textarea>', page, re.S)
        assert answer.group(1).strip() == ""


def test_the_article_text_is_escaped_not_rendered(case, handler, client):
    article = KnowledgeArticle.objects.create(
        title="Raro", body="<script>alert(1)</script> {{ request.user }} {name}"
    )
    client.force_login(handler)
    page = client.get(f"/cases/{case.pk}/", {"article": article.pk}).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ request.user }} Ana Ruiz Gil" in page


def test_who_may_not_answer_finds_articles_but_cannot_use_them(case, articles, client_for):
    client = client_for("citizen_service")
    results = client.get(f"/cases/{case.pk}/articles/").text
    assert "Alumbrado: reparación" in results
    assert "Use this article" not in results
    other = client_for("case_handler", unit_codes=("servicios-sociales",))
    assert other.get(f"/cases/{case.pk}/articles/").status_code == 404


# --- Admin ---------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser(username="root", password="x", email="r@x.es")
    )
    return client


def test_articles_are_written_in_the_admin_and_audited(admin_client, area):
    response = admin_client.post(
        "/admin/cases/knowledgearticle/add/",
        {
            "title": "Bache",
            "subject_area": area.pk,
            "language": "es",
            "body": "Estimado {name}",
            "active": "on",
        },
    )
    assert response.status_code == 302
    article = KnowledgeArticle.objects.get(title="Bache")
    assert AuditEvent.objects.filter(
        object_type="cases.knowledgearticle", object_id=str(article.pk), action="create"
    ).exists()


@pytest.mark.parametrize("model", ["casetype", "subjectarea", "hearing", "knowledgearticle"])
def test_the_catalogues_are_editable_in_the_admin(admin_client, model):
    assert admin_client.get(f"/admin/cases/{model}/").status_code == 200
    assert admin_client.get(f"/admin/cases/{model}/add/").status_code == 200


def test_case_type_changes_are_audited(admin_client):
    queja = CaseType.objects.get(code="queja")
    response = admin_client.post(
        f"/admin/cases/casetype/{queja.pk}/change/",
        {
            "name": "Queja",
            "translations": '{"en": "Complaint"}',
            "code": "queja",
            "kind": "complaint",
            "series": "QS",
            "description": "",
            "description_translations": "{}",
            "deadline_days": "15",
            "public": "on",
            "order": "10",
        },
    )
    assert response.status_code == 302
    assert CaseType.objects.get(pk=queja.pk).deadline_days == 15
    event = AuditEvent.objects.get(object_type="cases.casetype", action="update")
    assert event.changes["deadline_days"] == {"old": 20, "new": 15}


def test_cases_are_read_only_in_the_admin_and_found_by_number(admin_client, units):
    first, second = file_case(), file_case(subject="Bache")
    listed = admin_client.get("/admin/cases/case/", {"q": second.registry_number.lower()}).text
    assert second.registry_number in listed
    assert first.registry_number not in listed
    assert admin_client.get("/admin/cases/case/add/").status_code == 403
    change = admin_client.get(f"/admin/cases/case/{first.pk}/change/")
    assert change.status_code == 200
    assert 'name="subject"' not in change.text
    assert admin_client.post(f"/admin/cases/case/{first.pk}/delete/").status_code == 403
    assert Case.objects.count() == 2
