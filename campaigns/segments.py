"""Target publics in SQL.

A segment's ``rules`` is a tree of groups and conditions::

    {"op": "and", "rules": [
        {"type": "age", "min": 18, "max": 65},
        {"op": "or", "rules": [
            {"type": "municipality", "values": ["Cádiz", "Jerez de la Frontera"]},
            {"type": "province", "values": ["Sevilla"]},
        ]},
        {"type": "consent", "purpose": 3},
        {"type": "interaction", "days": 30, "channel": "phone", "negate": true},
    ]}

``members(segment)`` turns it into one query over people, evaluated when it runs: nothing
stores a dynamic segment's members, so whoever matches now is in it (a birthday, a move, a
consent withdrawn...). Every condition may carry ``"negate": true``. The conditions:

========================  ==============================================================
``age``                   ``min`` and/or ``max`` years, from the birth date, today
``municipality``          ``values``: any of these municipalities (of any address)
``province``              ``values``: any of these provinces (of any address)
``tags``                  ``values`` with ``match`` "any" (default) or "all"
``custom``                ``key`` and ``value``: a custom field equal to the value
``consent``               ``purpose``: the latest statement about it grants it
``interaction``           ``days`` (and optional ``channel``): an interaction that recent
``case``                  ``days``: a case filed by the person that recent
``campaign``              ``campaign`` and ``event``: "received", "clicked", "not_opened"
========================  ==============================================================

People blocked (erased), merged into another record or with processing restricted (GDPR art.
18) are never in a target public.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from citizens.models import (
    Channel,
    Consent,
    ConsentPurpose,
    CustomField,
    Interaction,
    Person,
    PostalAddress,
)
from citizens.text import municipality_key
from crm.db import planner_settings

MAX_DEPTH = 4
MAX_CONDITIONS = 50
MAX_VALUES = 200
MAX_AGE = 130
MAX_DAYS = 3660

CONDITION_TYPES = (
    "age",
    "municipality",
    "province",
    "tags",
    "custom",
    "consent",
    "interaction",
    "case",
    "campaign",
)
CAMPAIGN_EVENTS = ("received", "clicked", "not_opened")


def eligible_people() -> QuerySet[Person]:
    """Everyone a campaign may target: in ordinary use and without restricted processing."""
    return Person.objects.in_use().filter(restricted_at__isnull=True)


# --- Validation -----------------------------------------------------------------------------


def _int(value: Any, name: str, *, low: int, high: int, required: bool = True) -> int | None:
    if value in (None, ""):
        if required:
            raise ValidationError(_("“%(name)s” is required.") % {"name": name})
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(_("“%(name)s” must be a whole number.") % {"name": name}) from None
    if not low <= number <= high:
        raise ValidationError(
            _("“%(name)s” must be between %(low)s and %(high)s.")
            % {"name": name, "low": low, "high": high}
        )
    return number


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise ValidationError(_("Give at least one value."))
    cleaned = [str(item).strip()[:100] for item in value if str(item).strip()]
    if not cleaned:
        raise ValidationError(_("Give at least one value."))
    if len(cleaned) > MAX_VALUES:
        raise ValidationError(_("At most %(n)s values.") % {"n": MAX_VALUES})
    return list(dict.fromkeys(cleaned))


def _clean_condition(rule: dict) -> dict:
    kind = rule.get("type")
    if kind not in CONDITION_TYPES:
        raise ValidationError(_("Unknown condition."))
    clean: dict[str, Any] = {"type": kind}
    if rule.get("negate"):
        clean["negate"] = True
    if kind == "age":
        low = _int(rule.get("min"), _("minimum age"), low=0, high=MAX_AGE, required=False)
        high = _int(rule.get("max"), _("maximum age"), low=0, high=MAX_AGE, required=False)
        if low is None and high is None:
            raise ValidationError(_("Give a minimum age, a maximum age or both."))
        if low is not None and high is not None and low > high:
            raise ValidationError(_("The minimum age is above the maximum age."))
        clean.update({"min": low, "max": high})
    elif kind in ("municipality", "province"):
        clean["values"] = _values(rule.get("values"))
    elif kind == "tags":
        clean["values"] = _values(rule.get("values"))
        clean["match"] = "all" if rule.get("match") == "all" else "any"
    elif kind == "custom":
        key = str(rule.get("key") or "")
        if not CustomField.objects.filter(applies_to="person", key=key).exists():
            raise ValidationError(_("Choose a custom field of people."))
        value = rule.get("value")
        if value in (None, ""):
            raise ValidationError(_("Give the value to compare with."))
        clean.update({"key": key, "value": str(value)[:200]})
    elif kind == "consent":
        purpose = _int(rule.get("purpose"), _("purpose"), low=1, high=2**31)
        if not ConsentPurpose.objects.filter(pk=purpose).exists():
            raise ValidationError(_("Choose a consent purpose."))
        clean["purpose"] = purpose
    elif kind in ("interaction", "case"):
        clean["days"] = _int(rule.get("days"), _("days"), low=1, high=MAX_DAYS)
        if kind == "interaction":
            channel = rule.get("channel") or ""
            if channel and channel not in Channel.values:
                raise ValidationError(_("Choose a channel."))
            clean["channel"] = channel
    elif kind == "campaign":
        from campaigns.models import Campaign

        campaign = _int(rule.get("campaign"), _("campaign"), low=1, high=2**31)
        if not Campaign.objects.filter(pk=campaign).exists():
            raise ValidationError(_("Choose a campaign."))
        if rule.get("event") not in CAMPAIGN_EVENTS:
            raise ValidationError(_("Choose what the person did with that campaign."))
        clean.update({"campaign": campaign, "event": rule["event"]})
    return clean


def clean_rules(rules: Any) -> dict:
    """The rules in canonical form; ValidationError (with every problem, by position) if they
    are not valid. An empty group matches everyone."""
    errors: list[str] = []
    count = 0

    def walk(node: Any, depth: int, path: str) -> dict:
        nonlocal count
        if not isinstance(node, dict):
            errors.append(_("Condition %(path)s is malformed.") % {"path": path})
            return {}
        if "rules" in node:
            if depth > MAX_DEPTH:
                errors.append(_("Groups may be nested %(n)s deep at most.") % {"n": MAX_DEPTH})
                return {}
            op = node.get("op", "and")
            if op not in ("and", "or"):
                errors.append(_("Group %(path)s must be AND or OR.") % {"path": path or "1"})
            children = node.get("rules") or []
            if not isinstance(children, list):
                errors.append(_("Group %(path)s is malformed.") % {"path": path or "1"})
                children = []
            cleaned = [
                walk(child, depth + 1, f"{path}.{n}" if path else str(n))
                for n, child in enumerate(children, 1)
            ]
            group: dict[str, Any] = {"op": op, "rules": [c for c in cleaned if c]}
            if node.get("negate"):
                group["negate"] = True
            return group
        count += 1
        try:
            return _clean_condition(node)
        except ValidationError as error:
            errors.extend(
                _("Condition %(path)s: %(error)s") % {"path": path, "error": message}
                for message in error.messages
            )
            return {}

    tree = walk(rules if rules is not None else {"op": "and", "rules": []}, 1, "")
    if count > MAX_CONDITIONS:
        errors.append(_("At most %(n)s conditions.") % {"n": MAX_CONDITIONS})
    if errors:
        raise ValidationError(errors)
    return tree


# --- SQL ------------------------------------------------------------------------------------


def _years_before(today: date, years: int) -> date:
    year = today.year - years
    day = min(today.day, calendar.monthrange(year, today.month)[1])
    return today.replace(year=year, day=day)


def _age_q(rule: dict, today: date) -> Q:
    q = Q()
    if rule.get("min") is not None:  # at least min years old: born on or before this date
        q &= Q(birth_date__lte=_years_before(today, rule["min"]))
    if rule.get("max") is not None:  # not yet max + 1: born after this date
        q &= Q(birth_date__gt=_years_before(today, rule["max"] + 1))
    return q


def _province_q(rule: dict, today: date) -> Q:
    wanted = Q()
    for value in rule["values"]:
        wanted |= Q(province__iexact=value)
    return Q(Exists(PostalAddress.objects.filter(wanted, person=OuterRef("pk"))))


def _tags_q(rule: dict, today: date) -> Q:
    if rule.get("match") == "all":
        return Q(tags__contains=rule["values"])
    return Q(tags__overlap=rule["values"])


def _custom_q(rule: dict, today: date) -> Q:
    field = CustomField.objects.filter(applies_to="person", key=rule["key"]).first()
    value: Any = rule["value"]
    if field is not None and field.type == CustomField.Type.NUMBER:
        try:
            number = float(value)
            value = int(number) if number.is_integer() else number
        except ValueError:
            pass
    elif field is not None and field.type == CustomField.Type.BOOLEAN:
        value = str(value).lower() in ("1", "true", "yes", "sí", "si")
    # ``custom @> {"key": value}``: the jsonb_path_ops GIN index answers it.
    return Q(custom__contains={rule["key"]: value})


def _consent_q(rule: dict, today: date) -> Q:
    """The person's latest statement about the purpose grants it. Equivalently: some granted
    statement has no withdrawal after it (the latest statement is then that one or a later
    grant). Withdrawals are few: one small hash anti-join, not a probe per person."""
    withdrawn_later = Consent.objects.filter(
        person_id=OuterRef("person_id"), purpose_id=OuterRef("purpose_id"), granted=False
    ).filter(
        Q(stated_at__gt=OuterRef("stated_at"))
        | Q(stated_at=OuterRef("stated_at"), id__gt=OuterRef("id"))
    )
    granted = Consent.objects.filter(purpose_id=rule["purpose"], granted=True).filter(
        ~Exists(withdrawn_later)
    )
    return Q(pk__in=granted.values("person_id"))


def _interaction_q(rule: dict, today: date) -> Q:
    since = timezone.now() - timedelta(days=rule["days"])
    recent = Interaction.objects.filter(person=OuterRef("pk"), occurred_at__gte=since)
    if rule.get("channel"):
        recent = recent.filter(channel=rule["channel"])
    return Q(Exists(recent))


def _case_q(rule: dict, today: date) -> Q:
    case_model = apps.get_model("cases", "Case")
    since = timezone.now() - timedelta(days=rule["days"])
    return Q(Exists(case_model.objects.filter(person=OuterRef("pk"), filed_at__gte=since)))


def _campaign_q(rule: dict, today: date) -> Q:
    """People who received / clicked / did not open a campaign's email (its deliveries:
    campaigns.models.Delivery, helper module campaigns.sending)."""
    delivery_model = apps.get_model("campaigns", "Delivery")
    deliveries = delivery_model.objects.filter(campaign_id=rule["campaign"]).filter(
        delivery_model.received_q()
    )
    if rule["event"] == "clicked":
        deliveries = deliveries.filter(clicked_at__isnull=False)
    elif rule["event"] == "not_opened":
        deliveries = deliveries.filter(opened_at__isnull=True)
    return Q(pk__in=deliveries.values("person_id"))


def _municipality_q(rule: dict, today: date) -> Q:
    keys = [key for key in map(municipality_key, rule["values"]) if key]
    return Q(municipalities__overlap=keys)


BUILDERS: dict[str, Callable[[dict, date], Q]] = {
    "age": _age_q,
    "municipality": _municipality_q,
    "province": _province_q,
    "tags": _tags_q,
    "custom": _custom_q,
    "consent": _consent_q,
    "interaction": _interaction_q,
    "case": _case_q,
    "campaign": _campaign_q,
}


def rules_q(rules: dict, *, today: date | None = None) -> Q:
    """The rules as one Q over Person (rules already cleaned by ``clean_rules``)."""
    today = today or timezone.localdate()

    def build(node: dict) -> Q:
        if "rules" in node:
            parts = [build(child) for child in node["rules"]]
            q = Q()
            for part in parts:
                q = (q | part) if node.get("op") == "or" and q else (q & part)
            if node.get("op") == "or" and not parts:
                q = Q()
        else:
            q = BUILDERS[node["type"]](node, today)
        return ~q if node.get("negate") else q

    return build(rules)


def people_matching(rules: dict, *, today: date | None = None) -> QuerySet[Person]:
    """People matching ``rules`` now, among those a campaign may target."""
    return eligible_people().filter(rules_q(rules, today=today))


def members(segment) -> QuerySet[Person]:
    """A segment's (dynamic) or a static list's members, as a query evaluated when it runs."""
    from campaigns.models import StaticList

    if isinstance(segment, StaticList):
        return list_members(segment)
    return people_matching(segment.rules)


def list_members(static_list) -> QuerySet[Person]:
    from campaigns.models import StaticListMember

    ids = StaticListMember.objects.filter(static_list=static_list).values("person_id")
    return eligible_people().filter(pk__in=ids)


def campaign_audience(campaign) -> QuerySet[Person]:
    """Everyone the campaign targets: its segment's members and/or its static list's (their
    union). Eligibility for email (address, consent, suppression) is campaigns.sending's."""
    from campaigns.models import StaticListMember

    if campaign.segment_id is None and campaign.static_list_id is None:
        return Person.objects.none()
    q = Q()
    if campaign.segment_id is not None:
        q |= rules_q(campaign.segment.rules)
    if campaign.static_list_id is not None:
        ids = StaticListMember.objects.filter(static_list_id=campaign.static_list_id)
        q |= Q(pk__in=ids.values("person_id"))
    return eligible_people().filter(q)


def count(rules: dict, *, limit: int | None = None) -> int:
    """How many people match (all of them, or up to ``limit`` when given).

    PostgreSQL's JIT compiles a plan this costly before running it, which takes longer (a
    quarter of a second) than it saves on a register of a million people: off for this query."""
    queryset = people_matching(rules)
    if limit is not None:
        queryset = queryset.values("pk")[:limit]
    with planner_settings(jit="off"):
        return queryset.count()
