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
    "/reports/": {ADMIN, MANAGEMENT, DPO},
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


@pytest.fixture(autouse=True)
def issued_files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


CITIZENS_READ = frozenset(MODULE_ROLES["/citizens/"])
CITIZENS_WRITE = frozenset({ADMIN, SERVICE, PROMOTION})


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
    Case("/admin/crm/issueddocument/", frozenset({ADMIN}), 302, "/admin/login/"),
    Case("/admin/crm/registrycounter/", frozenset({ADMIN}), 302, "/admin/login/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [*ROLE_CODES, None], ids=[*ROLE_CODES, "anonymous"])
@pytest.mark.parametrize("case", MATRIX, ids=[case.path for case in MATRIX])
def test_every_url_as_every_role(case, role, client_for):
    response = client_for(role).get(case.build() if case.build else case.path)
    if case.public:
        assert response.status_code == 200
    elif role is None:
        assert response.status_code == 302
        assert response["Location"].startswith(case.anonymous_redirect)
    elif role in case.allowed:
        assert response.status_code == 200
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
