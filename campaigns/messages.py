"""A campaign's email, merged for one person.

The subject and bodies are Jinja2 templates run in its sandbox (``SandboxedEnvironment``): a
template sees only the merge fields below, as plain values (no model, no method), cannot load,
include or import anything, and the HTML body is autoescaped. ``check_template`` refuses, at
save time, a template with a syntax error, a forbidden tag or an unknown merge field.

Each campaign's templates are compiled once (``compiled``, cached by content); rendering a
message is then a dictionary and three template calls (tens of microseconds).

Merge fields::

    {{ person.given_name }} {{ person.first_surname }} {{ person.second_surname }}
    {{ person.full_name }} {{ person.surnames }}
    {{ campaign.name }} {{ form_link }} {{ unsubscribe_url }}

Every message ends with a visible unsubscribe link (the ``unsubscribe_url`` given), in the
campaign's language, whether or not the template also uses ``{{ unsubscribe_url }}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

PERSON_FIELDS = ("given_name", "first_surname", "second_surname", "full_name", "surnames")
CAMPAIGN_FIELDS = ("name",)
TOP_LEVEL = ("person", "campaign", "form_link", "unsubscribe_url")
FORBIDDEN_NODES = (
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Block,
    nodes.Assign,
    nodes.AssignBlock,
)

_html_env = SandboxedEnvironment(autoescape=True, keep_trailing_newline=True)
_text_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_HREF = re.compile(r'(<a\b[^>]*?\bhref\s*=\s*")(https?://[^"]+)(")', re.IGNORECASE)


class Rendered(NamedTuple):
    subject: str
    html: str
    text: str


def check_template(source: str, *, html: bool = False) -> None:
    """ValidationError if ``source`` is not a template a campaign may use."""
    env = _html_env if html else _text_env
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as error:
        raise ValidationError(
            _("Template error on line %(line)s: %(message)s")
            % {"line": error.lineno, "message": error.message}
        ) from None
    problems: list[str] = []
    for node in tree.find_all(FORBIDDEN_NODES):
        problems.append(
            _("Line %(line)s: this tag is not allowed in a campaign's email.")
            % {"line": node.lineno}
        )
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in TOP_LEVEL and not _loop_variable(tree, node):
            problems.append(
                _("Line %(line)s: unknown merge field “%(name)s”.")
                % {"line": node.lineno, "name": node.name}
            )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name in ("person", "campaign"):
            allowed = PERSON_FIELDS if node.node.name == "person" else CAMPAIGN_FIELDS
            attribute = node.attr if isinstance(node, nodes.Getattr) else _const(node.arg)
            if attribute not in allowed:
                problems.append(
                    _("Line %(line)s: unknown merge field “%(name)s”.")
                    % {"line": node.lineno, "name": f"{node.node.name}.{attribute}"}
                )
    if problems:
        raise ValidationError(list(dict.fromkeys(problems)))


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _loop_variable(tree: nodes.Template, name: nodes.Name) -> bool:
    """A name bound by a {% for %} of the template (``loop`` included)."""
    bound = {"loop"}
    for loop in tree.find_all(nodes.For):
        bound.update(target.name for target in loop.target.find_all(nodes.Name))
        if isinstance(loop.target, nodes.Name):
            bound.add(loop.target.name)
    return name.name in bound


def with_campaign(url: str, code: str) -> str:
    """``url`` carrying ``campaign=<code>`` in its query (so the form filed records it)."""
    if not url:
        return ""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "campaign"]
    query.append(("campaign", code))
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class CompiledEmail:
    subject: Any
    html: Any
    text: Any
    base: dict[str, Any]  # the campaign's share of the context
    html_footer: str  # with a %(url)s placeholder
    text_footer: str


@lru_cache(maxsize=32)
def _compile(
    subject: str, html: str, text: str, language: str, name: str, form_link: str
) -> CompiledEmail:
    with translation.override(language):
        html_footer = (
            '<p class="unsubscribe">'
            + escape(_("You receive this message because of your consent to this purpose."))
            + ' <a href="%(url)s">'
            + escape(_("Unsubscribe"))
            + "</a></p>"
        )
        text_footer = (
            _("You receive this message because of your consent to this purpose.")
            + "\n"
            + _("Unsubscribe: %(url)s")
        )
    return CompiledEmail(
        subject=_text_env.from_string(subject),
        html=_html_env.from_string(html),
        text=_text_env.from_string(text),
        base={"campaign": {"name": name}, "form_link": form_link},
        html_footer=html_footer,
        text_footer=text_footer,
    )


def compiled(campaign) -> CompiledEmail:
    """The campaign's templates compiled (once per content: the cache keys on it)."""
    return _compile(
        campaign.email_subject,
        campaign.email_html,
        campaign.email_text,
        campaign.email_language,
        campaign.name,
        with_campaign(campaign.landing_url, campaign.code),
    )


def person_fields(person) -> dict[str, str]:
    return {
        "given_name": person.given_name,
        "first_surname": person.first_surname,
        "second_surname": person.second_surname,
        "full_name": person.full_name,
        "surnames": person.surnames,
    }


def _append_html(html: str, footer: str) -> str:
    position = html.lower().rfind("</body>")
    if position == -1:
        return html + "\n" + footer
    return html[:position] + footer + html[position:]


def render(
    campaign,
    person,
    *,
    unsubscribe_url: str,
    links: Callable[[str], str] | None = None,
) -> Rendered:
    """The campaign's message for ``person``. ``links`` (click tracking) rewrites every
    http(s) link of the HTML body written in the template; the unsubscribe link is never
    rewritten."""
    email = compiled(campaign)
    context = {**email.base, "person": person_fields(person), "unsubscribe_url": unsubscribe_url}
    subject = " ".join(email.subject.render(context).split())
    html = email.html.render(context)
    if links is not None:
        keep = escape(unsubscribe_url)

        def rewrite(match: re.Match) -> str:
            url = match.group(2)
            if url != keep:
                url = escape(links(url.replace("&amp;", "&")))
            return match.group(1) + url + match.group(3)

        html = _HREF.sub(rewrite, html)
    html = _append_html(html, email.html_footer % {"url": escape(unsubscribe_url)})
    text = email.text.render(context).rstrip("\n") + "\n\n-- \n"
    text += email.text_footer % {"url": unsubscribe_url} + "\n"
    return Rendered(subject=subject, html=html, text=text)
