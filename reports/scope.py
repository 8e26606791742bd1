"""What a user may count: the same rows the modules themselves show them, never more.

Every figure of the reports module (dashboard, report builder, annual report) starts from
``visible(user, subject)``. A user holding ``reports.all_units`` (management, the data
protection officer, administrators) sees every row of every module, read-only; anyone else
sees a subject only if they use its module, and then exactly the rows the module's own
``for_user`` scoping gives them (their units and sub-units, their assignments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Subject:
    code: str
    label: str | Promise
    permission: str  # the module permission that opens it without ``reports.all_units``
    everything: Callable[[], QuerySet]  # every row (for ``reports.all_units``)
    scoped: Callable[[object], QuerySet]  # the rows the module shows this user


def _people() -> QuerySet:
    from citizens.models import Person

    return Person.objects.in_use()


def _organizations() -> QuerySet:
    from citizens.models import Organization

    return Organization.objects.in_use()


def _cases() -> QuerySet:
    from cases.models import Case

    return Case.objects.all()


def _campaigns() -> QuerySet:
    from campaigns.models import Campaign

    return Campaign.objects.all()


def _deliveries() -> QuerySet:
    from campaigns.models import Delivery

    return Delivery.objects.all()


def _opportunities() -> QuerySet:
    from sales.models import Opportunity

    return Opportunity.objects.all()


def _visits() -> QuerySet:
    from sales.models import Visit

    return Visit.objects.all()


def _scoped_deliveries(user) -> QuerySet:
    from campaigns.models import Campaign

    return _deliveries().filter(campaign__in=Campaign.objects.for_user(user).values("pk"))


SUBJECTS: dict[str, Subject] = {
    subject.code: subject
    for subject in (
        Subject("people", _("People"), "citizens.access", _people, lambda user: _people()),
        Subject(
            "organizations",
            _("Organisations"),
            "citizens.access",
            _organizations,
            lambda user: _organizations(),
        ),
        Subject("cases", _("Cases"), "cases.access", _cases, lambda u: _cases().for_user(u)),
        Subject(
            "campaigns",
            _("Campaigns"),
            "campaigns.access",
            _campaigns,
            lambda user: _campaigns().for_user(user),
        ),
        Subject("deliveries", _("Deliveries"), "campaigns.access", _deliveries, _scoped_deliveries),
        Subject(
            "opportunities",
            _("Opportunities"),
            "sales.access",
            _opportunities,
            lambda user: _opportunities().for_user(user),
        ),
        Subject(
            "visits", _("Visits"), "sales.field_work", _visits, lambda u: _visits().for_user(u)
        ),
    )
}


def sees_everything(user) -> bool:
    return user.is_authenticated and user.has_perm("reports.all_units")


def may_see(user, subject: str) -> bool:
    """Whether ``user`` may count anything of ``subject`` at all."""
    if not user.is_authenticated or not user.has_perm("reports.access"):
        return False
    return sees_everything(user) or user.has_perm(SUBJECTS[subject].permission)


def subjects_for(user) -> list[Subject]:
    return [subject for code, subject in SUBJECTS.items() if may_see(user, code)]


def visible(user, subject: str) -> QuerySet:
    """The rows of ``subject`` that ``user`` may count (an empty QuerySet if none)."""
    entry = SUBJECTS[subject]
    if not may_see(user, subject):
        return entry.everything().none()
    if sees_everything(user):
        return entry.everything()
    return entry.scoped(user)
