"""A campaign's email merged for one person: merge fields, escaping, the sandbox, the
unsubscribe link and link rewriting for click tracking."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns.messages import check_template, render, with_campaign
from campaigns.models import Campaign
from citizens.models import Person


def make(**fields) -> Campaign:
    values = {
        "name": "Incendios",
        "code": "incendios-26",
        "email_subject": "Hola {{ person.given_name }}",
        "email_html": '<p>Hola {{ person.full_name }}</p><a href="{{ form_link }}">Avisa</a>',
        "email_text": "Hola {{ person.given_name }} {{ person.first_surname }}: {{ form_link }}",
        "email_language": "es",
        "landing_url": "https://sede.example.org/sede/aviso/?a=1",
    }
    values.update(fields)
    return Campaign(**values)


def test_merge_fields_and_the_form_link_with_the_campaign_code():
    rendered = render(
        make(), Person(given_name="Ana", first_surname="Ruiz"), unsubscribe_url="https://x/u/1"
    )
    assert rendered.subject == "Hola Ana"
    assert "Hola Ana Ruiz</p>" in rendered.html
    assert (
        'href="https://sede.example.org/sede/aviso/?a=1&amp;campaign=incendios-26"' in rendered.html
    )
    assert rendered.text.startswith(
        "Hola Ana Ruiz: https://sede.example.org/sede/aviso/?a=1&campaign=incendios-26"
    )


def test_html_is_escaped_and_text_is_not():
    rendered = render(make(), Person(given_name="<b>Ana</b>"), unsubscribe_url="https://x/u")
    assert "&lt;b&gt;Ana&lt;/b&gt;" in rendered.html
    assert "<b>Ana</b>" not in rendered.html
    assert rendered.text.startswith("Hola <b>Ana</b>")


def test_every_message_carries_a_visible_unsubscribe_link():
    rendered = render(make(), Person(given_name="Ana"), unsubscribe_url="https://x/u/1?a=1&b=2")
    assert '<a href="https://x/u/1?a=1&amp;b=2">' in rendered.html
    assert "https://x/u/1?a=1&b=2" in rendered.text


def test_the_unsubscribe_link_goes_inside_the_body_element():
    campaign = make(email_html="<html><body><p>Hola</p></body></html>")
    rendered = render(campaign, Person(given_name="Ana"), unsubscribe_url="https://x/u")
    assert rendered.html.index('href="https://x/u"') < rendered.html.index("</body>")


def test_links_are_rewritten_for_click_tracking_but_not_the_unsubscribe_link():
    rendered = render(
        make(),
        Person(given_name="Ana"),
        unsubscribe_url="https://x/u",
        links=lambda url: "https://t.example/c?u=" + url.split("?")[0],
    )
    assert 'href="https://t.example/c?u=https://sede.example.org/sede/aviso/"' in rendered.html
    assert 'href="https://x/u"' in rendered.html


@pytest.mark.parametrize(
    "source",
    [
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% import 'x' as x %}",
        "{% set a = 1 %}",
        "{% macro m() %}{% endmacro %}",
        "{{ person.document_number }}",
        "{{ person['birth_date'] }}",
        "{{ person.__class__ }}",
        "{{ settings }}",
        "{% if %}",
        "{{ person.given_name",
    ],
)
def test_unsafe_or_broken_templates_are_refused(source):
    with pytest.raises(ValidationError):
        check_template(source, html=True)


def test_allowed_templates_pass():
    check_template("{% if person.given_name %}Hola {{ person.given_name|upper }}{% endif %}")
    check_template(
        "{% for x in [1, 2] %}{{ x }}{% endfor %} {{ campaign.name }} {{ unsubscribe_url }}"
    )


def test_the_sandbox_stops_what_the_check_would_miss():
    """Even a template that was never checked cannot reach Python internals."""
    from jinja2.exceptions import SecurityError

    campaign = make(email_subject="{{ person.given_name.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        render(campaign, Person(given_name="Ana"), unsubscribe_url="https://x/u")


def test_with_campaign_replaces_an_existing_code():
    assert with_campaign("https://a/b?campaign=old&x=1", "new") == "https://a/b?x=1&campaign=new"
    assert with_campaign("", "new") == ""
