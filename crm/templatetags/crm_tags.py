from datetime import timedelta

from django import template
from django.apps import apps

from crm.roles import role_label

register = template.Library()


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a duration, rounded up (a lockout of 14 min 10 s says 15)."""
    if not value:
        return 0
    return -(-int(value.total_seconds()) // 60)


@register.filter
def role_name(code: str) -> str:
    return str(role_label(code))


@register.filter
def record_type(label: str) -> str:
    """``citizens.person`` as people read it ("persona"), for the audit trail's pages."""
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label
