"""Panels that other modules add to the 360° pages of people and organisations.

The citizens module knows nothing of cases, campaigns, opportunities or visits: each of those
modules registers a provider, usually in its ``AppConfig.ready()``::

    from citizens.panels import register_person_panel

    def open_cases(person, user):
        if not user.has_perm("cases.access"):
            return None  # not shown to this user
        return Panel(title=_("Cases"), template_name="cases/_person_panel.html",
                     context={"cases": Case.objects.for_user(user).filter(person=person)[:10]},
                     empty_text=_("No cases."))

    register_person_panel("cases", open_cases, order=10)

The page shows the panels of registered providers only (no empty placeholders for modules that
are not there). A provider returns ``None`` to show nothing to that user; it should cost one or
two queries at most, the page's budget is small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from citizens.models import Organization, Person
from crm.models import User
from crm.modules import Panel

PersonPanelProvider = Callable[[Person, User], Panel | None]
# ids of one module's records on a timeline page, the user -> {id: (label, url)} of those the user
# may open (e.g. {42: ("Case QS-2026-000042", "/cases/42/")}).
RelatedLinksResolver = Callable[[Iterable[int], User], dict[int, tuple[str, str]]]
OrganizationPanelProvider = Callable[[Organization, User], Panel | None]


@dataclass(frozen=True)
class _Registered:
    key: str
    provider: Callable
    order: int


_person_providers: dict[str, _Registered] = {}
_organization_providers: dict[str, _Registered] = {}


def register_person_panel(key: str, provider: PersonPanelProvider, *, order: int = 50) -> None:
    """Add (or, under the same key, replace) a panel of the person's page."""
    _person_providers[key] = _Registered(key, provider, order)


def register_organization_panel(
    key: str, provider: OrganizationPanelProvider, *, order: int = 50
) -> None:
    """Add (or, under the same key, replace) a panel of the organisation's page."""
    _organization_providers[key] = _Registered(key, provider, order)


def unregister_person_panel(key: str) -> None:
    _person_providers.pop(key, None)


def unregister_organization_panel(key: str) -> None:
    _organization_providers.pop(key, None)


def _collect(providers: dict[str, _Registered], record, user: User) -> list[Panel]:
    panels = []
    for registered in sorted(providers.values(), key=lambda item: (item.order, item.key)):
        panel = registered.provider(record, user)
        if panel is not None:
            panels.append(panel)
    return panels


def person_panels(person: Person, user: User) -> list[Panel]:
    return _collect(_person_providers, person, user)


def organization_panels(organization: Organization, user: User) -> list[Panel]:
    return _collect(_organization_providers, organization, user)


# --- Links from the timeline to other modules' records -----------------------------------------

_related_resolvers: dict[str, RelatedLinksResolver] = {}


def register_related_links(related_type: str, resolver: RelatedLinksResolver) -> None:
    """Let the module of ``related_type`` (an interaction's ``related_type``, e.g. "cases.case")
    name and link its records on the timeline. The resolver is called once per timeline page
    with the ids found there; ids it leaves out keep the plain label, without a link."""
    _related_resolvers[related_type] = resolver


def unregister_related_links(related_type: str) -> None:
    _related_resolvers.pop(related_type, None)


def link_related(interactions: Iterable, user: User) -> None:
    """Set ``related_url`` (and a better ``related_label``) on the interactions whose module
    registered a resolver: one call per module, whatever the number of interactions."""
    by_type: dict[str, list] = {}
    for interaction in interactions:
        interaction.related_url = ""
        if interaction.related_type in _related_resolvers and interaction.related_id:
            by_type.setdefault(interaction.related_type, []).append(interaction)
    for related_type, items in by_type.items():
        links = _related_resolvers[related_type]({item.related_id for item in items}, user)
        for item in items:
            if item.related_id in links:
                item.related_label, item.related_url = links[item.related_id]
