from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()

_HIDDEN = '<span aria-hidden="true">{}</span><span class="visually-hidden">{}</span>'


@register.simple_tag
def masked_document(row) -> SafeString:
    """A list row's identity document: only its last characters, as publications require.

    A tag rather than an included template: lists render it fifty times a page."""
    if row.document_end:
        return format_html(_HIDDEN + "{}", "•••••", _("document ending in") + " ", row.document_end)
    if row.has_document:
        return format_html(_HIDDEN, "•••••", _("document hidden"))
    return format_html(_HIDDEN, "—", _("no document"))
