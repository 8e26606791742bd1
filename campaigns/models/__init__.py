"""The campaigns module's models, one file per part (see docs/campaigns.md)."""

from .access import ModuleAccess
from .campaign import BudgetLine, Campaign, EmailTemplate, Objective
from .delivery import BounceReport, Delivery, Suppression, TrackingEvent
from .segment import Segment, StaticList, StaticListMember

__all__ = [
    "BounceReport",
    "BudgetLine",
    "Campaign",
    "Delivery",
    "EmailTemplate",
    "ModuleAccess",
    "Objective",
    "Segment",
    "StaticList",
    "StaticListMember",
    "Suppression",
    "TrackingEvent",
]
