"""The knowledge base: answer templates staff start their answers from.

An article's text has placeholders (``{name}``, ``{registry_number}``...) that take the case's
values when it is used. Articles are written by people, so they are never rendered as a Django
template nor given to ``str.format`` as such: only a brace-enclosed known name is replaced, any
other brace (``{unknown}``, ``{name.__class__}``, ``{0}``, a lone ``}``) stays as written. This is
``str.format_map`` with a mapping that keeps unknown placeholders, minus format's attribute and
index access and its errors on stray braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from django.db.models import Case as When_
from django.db.models import IntegerField, Q, QuerySet, Value, When
from django.utils import formats, timezone

from cases.models import Case, KnowledgeArticle
from crm.models import User

PLACEHOLDERS = ("name", "registry_number", "filed_on", "subject", "unit", "handler", "today")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
RESULTS = 20


class KeepUnknown(dict):
    """A mapping that gives back ``{key}`` for a key it does not hold."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{known}`` placeholder replaced by its value; nothing else changes."""
    known = KeepUnknown(values)
    return _PLACEHOLDER.sub(lambda match: known[match.group(1)], text)


def placeholder_values(case: Case, *, user: User, today: date) -> dict[str, str]:
    """What the placeholders stand for in ``case``, answered by ``user`` on ``today``."""
    filer = case.filer or {}
    name = " ".join(
        part
        for part in (
            filer.get("given_name"),
            filer.get("first_surname"),
            filer.get("second_surname"),
        )
        if part
    )
    if not name and case.person_id:
        name = case.person.full_name
    handler = case.assignee or user
    return {
        "name": name,
        "registry_number": case.registry_number,
        "filed_on": formats.date_format(
            timezone.localtime(case.official_filed_at).date(), "SHORT_DATE_FORMAT"
        ),
        "subject": case.subject,
        "unit": case.unit.name if case.unit_id else "",
        "handler": handler.get_full_name() or handler.get_username(),
        "today": formats.date_format(today, "SHORT_DATE_FORMAT"),
    }


def search_articles(case: Case, text: str) -> QuerySet:
    """Active articles with every word of ``text`` in their title or text; those of the case's
    subject area first, then the general ones (no area), then the others."""
    articles = KnowledgeArticle.objects.filter(active=True).select_related("subject_area")
    for word in text.split():
        articles = articles.filter(Q(title__icontains=word) | Q(body__icontains=word))
    if not text.strip():
        articles = articles.filter(
            Q(subject_area__isnull=True) | Q(subject_area=case.subject_area_id)
        )
    rank = When_(
        When(subject_area=case.subject_area_id, then=Value(0)),
        When(subject_area__isnull=True, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return articles.annotate(rank=rank).order_by("rank", "title", "id")[:RESULTS]
