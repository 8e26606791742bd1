"""Records the campaigns tests share."""

from __future__ import annotations

from datetime import date, timedelta

from campaigns import services
from campaigns.models import Campaign, Segment
from citizens.gdpr import consent_record
from citizens.models import Consent, ConsentPurpose
from citizens.services import AddressInput, Contacts, EmailInput, person_create

PASSWORD = "correct-horse-battery"


def person(given_name="Ana", *, email="", municipality="", province="", **fields):
    contacts = Contacts(
        emails=[EmailInput(address=email, is_primary=True)] if email else [],
        addresses=[AddressInput(street="Calle Mayor", municipality=municipality, province=province)]
        if municipality
        else [],
    )
    return person_create(actor=None, given_name=given_name, contacts=contacts, **fields)


def purpose(code="newsletter") -> ConsentPurpose:
    return ConsentPurpose.objects.get_or_create(
        code=code, defaults={"name": code.title(), "text": "Quiero recibir información."}
    )[0]


def consent(who, what, granted=True) -> None:
    consent_record(
        person=who, purpose=what, granted=granted, source=Consent.Source.PAPER, actor=None
    )


def born_years_ago(years: int, days: int = 0) -> date:
    today = date.today()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return born - timedelta(days=days)


def segment(actor, rules, name="Segmento") -> Segment:
    return services.segment_save(actor=actor, name=name, rules=rules)


def campaign(actor, **fields) -> Campaign:
    today = date.today()
    values = {
        "name": "Prevención de incendios",
        "code": "incendios-2026",
        "kind": Campaign.Kind.AWARENESS,
        "starts_on": today,
        "ends_on": today + timedelta(days=30),
        "channels": ["email"],
        "email_subject": "Hola {{ person.given_name }}",
        "email_html": (
            '<p>Hola {{ person.given_name }}</p><p><a href="{{ form_link }}">Avisa</a></p>'
        ),
        "email_text": "Hola {{ person.given_name }}: {{ form_link }}",
        "landing_url": "https://sede.example.org/sede/aviso/",
    }
    values.update(fields)
    return services.campaign_create(actor=actor, **values)
