from datetime import timedelta

from django import template

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
