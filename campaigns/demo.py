"""The campaigns module's demo data (``manage.py seed_demo``, after crm's units and logins and
the cases' citizens): the newsletter consent purpose, two segments, a static list frozen from
one, an email campaign being prepared (template, budget, objectives) and a campaign of letters
under way with its interactions. Made through the services; idempotent (by campaign code)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from citizens.models import ConsentPurpose
from crm.models import Unit, User

from . import segments, services
from .models import Campaign

EMAIL_CODE = "incendios-demo"
LETTERS_CODE = "padron-demo"

EMAIL_HTML = """<p>Hola, {{ person.given_name }}:</p>
<p>Llega el verano y con él el riesgo de incendios forestales. Evita hacer fuego en el monte,
no tires colillas y avisa al 112 si ves humo.</p>
<p>¿Has visto maleza sin desbrozar junto a tu casa? <a href="{{ form_link }}">Avísanos aquí</a>.</p>
<p>{{ campaign.name }}</p>"""
EMAIL_TEXT = """Hola, {{ person.given_name }}:

Llega el verano y con él el riesgo de incendios forestales. Evita hacer fuego en el monte, no
tires colillas y avisa al 112 si ves humo.

¿Has visto maleza sin desbrozar junto a tu casa? Avísanos: {{ form_link }}
"""


@transaction.atomic
def load() -> list[str]:
    """Create what is missing; return what was created."""
    actor = User.objects.filter(username="campanas").first()
    unit = Unit.objects.filter(code="comunicacion").first()
    if actor is None or Campaign.objects.filter(code=EMAIL_CODE).exists():
        return []
    newsletter, _created = ConsentPurpose.objects.get_or_create(
        code="boletin",
        defaults={
            "name": "Boletín municipal",
            "text": "Acepto recibir el boletín municipal y avisos por correo electrónico.",
        },
    )
    today = timezone.localdate()
    adults = services.segment_save(
        actor=actor,
        name="Adultos que aceptan el boletín",
        description="Mayores de edad con consentimiento vigente para el boletín.",
        rules=segments.clean_rules(
            {
                "op": "and",
                "rules": [
                    {"type": "age", "min": 18},
                    {"type": "consent", "purpose": newsletter.pk},
                ],
            }
        ),
    )
    recent = services.segment_save(
        actor=actor,
        name="Vecinos con casos en los últimos 90 días",
        rules=segments.clean_rules({"op": "and", "rules": [{"type": "case", "days": 90}]}),
    )
    frozen = services.segment_freeze(
        segment=recent, actor=actor, name="Casos recientes (congelada)"
    )
    email = services.campaign_create(
        actor=actor,
        name="Prevención de incendios forestales",
        code=EMAIL_CODE,
        kind=Campaign.Kind.AWARENESS,
        description="Consejos de verano y aviso de parcelas sin desbrozar.",
        unit=unit,
        starts_on=today + timedelta(days=7),
        ends_on=today + timedelta(days=90),
        channels=["email", "social"],
        purpose=newsletter,
        segment=adults,
        email_subject="{{ person.given_name }}, este verano, prevención",
        email_html=EMAIL_HTML,
        email_text=EMAIL_TEXT,
        landing_url="http://127.0.0.1:8000/sede/aviso/",
    )
    for concept, planned, actual in (
        ("Cuñas de radio", "3000", "0"),
        ("Carteles y folletos", "1200", "950.40"),
    ):
        services.budget_line_save(
            campaign=email,
            actor=actor,
            concept=concept,
            planned=Decimal(planned),
            actual=Decimal(actual),
            currency="EUR",
        )
    for name, indicator, target in (
        ("Llegar a 500 vecinos", "reach", "500"),
        ("30 avisos por el formulario", "cases", "30"),
        ("Tasa de bajas por debajo del 2 %", "unsubscribe_rate", "2"),
    ):
        services.objective_save(
            campaign=email, actor=actor, name=name, indicator=indicator, target=Decimal(target)
        )
    letters = services.campaign_create(
        actor=actor,
        name="Actualización del padrón",
        code=LETTERS_CODE,
        kind=Campaign.Kind.SERVICE,
        unit=unit,
        starts_on=today - timedelta(days=10),
        ends_on=today + timedelta(days=20),
        channels=["letter", "phone"],
        static_list=frozen,
    )
    services.campaign_transition(campaign=letters, action="schedule", actor=actor)
    services.campaign_transition(campaign=letters, action="start", actor=actor)
    services.objective_save(
        campaign=letters,
        actor=actor,
        name="Contactar a 20 vecinos",
        indicator="interactions",
        target=Decimal(20),
    )
    written = 0
    for person in segments.list_members(frozen)[:5]:
        services.campaign_interaction_record(
            campaign=letters,
            person=person,
            channel="letter",
            subject="Carta: actualice sus datos del padrón",
            actor=actor,
        )
        written += 1
    return [
        "2 segments",
        f"a static list of {frozen.size}",
        "2 campaigns",
        f"{written} letters",
    ]
