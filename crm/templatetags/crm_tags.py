from datetime import timedelta
from html import escape as _escape

from django import forms, template
from django.apps import apps
from django.forms.boundfield import BoundField
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

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


@register.simple_tag
def filter_field(field: BoundField) -> SafeString:
    """A field of a list's filters as a Bootstrap form group: label, control, errors and help,
    tied together by ``aria-describedby`` as Django ties them.

    Written out here rather than through crispy-forms and the widgets' templates: a list's
    filter form has a dozen fields, and rendering them through templates (several includes per
    field, one per select option) took about a third of the time of the people's list
    (docs/benchmarks.md). Inputs and single selects are written from the widget's own context
    (values, selected options, attributes); any other widget is rendered by Django."""
    widget = field.field.widget
    if field.field.localize:
        widget.is_localized = True
    errors = field.errors
    is_select = isinstance(widget, forms.Select) and not widget.allow_multiple_selected
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs["id"] = field.auto_id
    classes = [widget.attrs.get("class", ""), "form-select" if is_select else "form-control"]
    if errors:
        classes.append("is-invalid")
    attrs["class"] = " ".join(name for name in classes if name)

    if is_select or isinstance(widget, forms.widgets.Input):
        context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
        name = escape_text(context["name"])
        if is_select:
            control = f'<select name="{name}"{_attributes(context["attrs"])}>'
            for group_name, options, _index in context["optgroups"]:
                if group_name:
                    control += f'<optgroup label="{escape_text(group_name)}">'
                for option in options:
                    control += (
                        f'<option value="{escape_text(option["value"])}"'
                        f"{_attributes(option['attrs'])}>{escape_text(option['label'])}</option>"
                    )
                if group_name:
                    control += "</optgroup>"
            control += "</select>"
        else:
            value = context["value"]
            control = (
                f'<input type="{escape_text(context["type"])}" name="{name}"'
                + (f' value="{escape_text(value)}"' if value is not None else "")
                + f"{_attributes(context['attrs'])}>"
            )
    else:
        control = field.as_widget(attrs=attrs)

    field_id = escape_text(attrs.get("id") or widget.attrs.get("id") or "")
    required = '<span class="asteriskField">*</span>' if field.field.required else ""
    html = f'<div class="mb-3"><label for="{field_id}" class="form-label">'
    html += f"{conditional_escape(field.label)}{required}</label>{control}"
    if errors:
        html += f'<div id="{escape_text(field.auto_id)}_error" class="invalid-feedback">'
        html += "".join(f"<p><strong>{conditional_escape(error)}</strong></p>" for error in errors)
        html += "</div>"
    if field.help_text:
        html += f'<div id="{escape_text(field.auto_id)}_helptext" class="form-text">'
        html += f"{conditional_escape(field.help_text)}</div>"
    return mark_safe(html + "</div>")  # noqa: S308 (every value above is escaped)


def _attributes(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html``: ``True`` is a bare attribute, ``False`` none."""
    return "".join(
        f" {escape_text(name)}" if value is True else f' {escape_text(name)}="{escape_text(value)}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


def escape_text(value: object) -> str:
    """A value escaped for HTML as ``django.utils.html.escape`` escapes it, without the wrapper
    that keeps lazy strings lazy: the list tags call it hundreds of times a page."""
    return _escape(str(value))
