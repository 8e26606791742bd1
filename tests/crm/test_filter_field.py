"""``crm_tags.filter_field``: a filter form's field written in Python, as Django's widget
templates would write it, with its label, errors and help tied to it for assistive technology."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django import forms

from crm.templatetags.crm_tags import filter_field


class Demo(forms.Form):
    q = forms.CharField(required=False, help_text="Name, <document> or phone.")
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any"),
            ("mail", "Mail & post"),
            ("Online", [("web", "Web"), ("chat", "Chat")]),
        ],
    )
    amount = forms.DecimalField(
        required=False, localize=True, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    phone = forms.CharField(max_length=40, widget=forms.TextInput(attrs={"type": "tel"}))
    notes = forms.CharField(required=False, widget=forms.Textarea)  # rendered by Django


BOUND = {
    "q": 'a "quoted" <value> & more',
    "day": "2024-13-45",
    "channel": "chat",
    "amount": "1,5",
    "phone": "",
    "notes": "<b>bold</b>",
}


class _Structure(HTMLParser):
    """Tags with their attributes (in any order) and non-blank text: markup compared as a
    browser reads it, whatever the whitespace between the tags."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.items.append(("start", tag, tuple(sorted(attrs, key=lambda pair: pair[0]))))

    def handle_endtag(self, tag):
        self.items.append(("end", tag))

    def handle_data(self, data):
        if data.strip():
            self.items.append(("text", data.strip()))


def structure(html: str) -> list[tuple]:
    parser = _Structure()
    parser.feed(html)
    return parser.items


def contains(items: list, part: list) -> bool:
    return any(items[index : index + len(part)] == part for index in range(len(items)))


@pytest.mark.parametrize("name", list(Demo.base_fields))
@pytest.mark.parametrize("data", [None, BOUND], ids=["empty", "bound"])
def test_the_control_is_what_djangos_widget_templates_write(name, data):
    form = Demo(data)
    form.is_valid()
    field = form[name]
    html = filter_field(field)

    widget = field.field.widget
    attrs = field.build_widget_attrs({}, widget)
    attrs["id"] = field.auto_id
    css = "form-select" if isinstance(widget, forms.Select) else "form-control"
    attrs["class"] = f"{css} is-invalid" if field.errors else css
    assert contains(structure(html), structure(field.as_widget(attrs=attrs)))


def test_label_errors_and_help_are_tied_to_the_control():
    form = Demo(BOUND)
    form.is_valid()

    day = filter_field(form["day"])
    assert '<label for="id_day" class="form-label">Day</label>' in day
    control = re.search(r"<input[^>]*>", day).group(0)
    assert 'aria-invalid="true"' in control
    assert 'aria-describedby="id_day_error"' in control
    assert "is-invalid" in control
    assert 'value="2024-13-45"' in control  # what was typed stays
    assert '<div id="id_day_error" class="invalid-feedback">' in day
    assert f"<p><strong>{form.errors['day'][0]}</strong></p>" in day

    query = filter_field(form["q"])
    assert 'aria-describedby="id_q_helptext"' in query
    assert (
        '<div id="id_q_helptext" class="form-text">Name, &lt;document&gt; or phone.</div>' in query
    )
    assert 'value="a &quot;quoted&quot; &lt;value&gt; &amp; more"' in query
    assert "invalid-feedback" not in query

    phone = filter_field(form["phone"])  # required and missing
    assert '<span class="asteriskField">*</span></label>' in phone
    assert re.search(r"<input[^>]* required[ >]", phone)
    assert 'aria-describedby="id_phone_error"' in phone


def test_the_chosen_option_is_selected_inside_its_group():
    form = Demo(BOUND)
    html = filter_field(form["channel"])
    assert '<optgroup label="Online">' in html
    assert '<option value="chat" selected>Chat</option>' in html
    assert '<option value="mail">Mail &amp; post</option>' in html
    assert html.count(" selected") == 1
