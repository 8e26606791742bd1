"""The CRM's modules (one Django app each) and what they contribute to the shared frame.

An app takes part by giving its AppConfig a ``crm_module`` (navigation entry) and, optionally, a
``home_panels(request)`` method that returns the panels it adds to the staff home page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.http import HttpRequest
from django.utils.functional import Promise


@dataclass(frozen=True)
class Module:
    label: str  # the app label, e.g. "cases"
    name: str | Promise  # shown in the navigation
    description: str | Promise
    url_name: str  # the module's index, e.g. "cases:index"
    icon: str  # a Bootstrap Icons name
    permissions: tuple[str, ...]  # holding any of them lets a user use the module
    order: int = 50  # position in the navigation


@dataclass(frozen=True)
class Panel:
    """A panel on the staff home page ("my work")."""

    title: str | Promise
    template_name: str
    context: dict[str, Any] = field(default_factory=dict)
    empty_text: str | Promise = ""


def all_modules() -> list[Module]:
    found = (getattr(config, "crm_module", None) for config in apps.get_app_configs())
    return sorted((module for module in found if module is not None), key=lambda m: m.order)


def visible_modules(request: HttpRequest) -> list[Module]:
    """The modules shown to this request's user in the navigation."""
    from crm.permissions import can_use_module

    if not request.user.is_authenticated:
        return []
    return [module for module in all_modules() if can_use_module(request.user, module)]


def home_panels(request: HttpRequest) -> list[Panel]:
    visible = {module.label for module in visible_modules(request)}
    panels: list[Panel] = []
    for config in apps.get_app_configs():
        if config.label in visible and hasattr(config, "home_panels"):
            panels.extend(config.home_panels(request))
    return panels
