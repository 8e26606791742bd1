"""Demo data for the embedded default: the units of a town hall and a user per role
(password "demo"). ``manage.py seed_demo`` runs every app's ``demo.load()`` (crm first), each
idempotent: running it twice changes nothing. Never available outside the embedded default.
"""

from __future__ import annotations

from django.db import transaction

from crm.models import Unit, User
from crm.roles import sync_roles
from crm.services import user_set_roles, user_set_units

DEMO_PASSWORD = "demo"  # noqa: S105  (documented demo password, embedded default only)

# code, name, parent code
DEMO_UNITS = (
    ("ayto", "Ayuntamiento de Ejemplo", None),
    ("atencion-ciudadana", "Oficina de Atención Ciudadana", "ayto"),
    ("urbanismo", "Área de Urbanismo", "ayto"),
    ("licencias", "Servicio de Licencias", "urbanismo"),
    ("disciplina-urbanistica", "Disciplina Urbanística", "urbanismo"),
    ("servicios-sociales", "Área de Servicios Sociales", "ayto"),
    ("medio-ambiente", "Área de Medio Ambiente", "ayto"),
    ("comunicacion", "Gabinete de Comunicación", "ayto"),
    ("promocion-economica", "Promoción Económica y Empleo", "ayto"),
)

# username, given name, surnames, role, units
DEMO_USERS = (
    ("admin", "Ana", "Administradora Ruiz", "administrator", ("ayto",)),
    ("atencion", "Lucía", "Martín Gómez", "citizen_service", ("atencion-ciudadana",)),
    ("tramitador", "Javier", "López Fernández", "case_handler", ("urbanismo",)),
    ("campanas", "Marta", "Sánchez Pérez", "communication", ("comunicacion",)),
    ("comercial", "David", "García Romero", "promotion", ("promocion-economica",)),
    ("inspector", "Sergio", "Navarro Díaz", "inspector", ("disciplina-urbanistica",)),
    ("direccion", "Elena", "Torres Molina", "management", ("ayto",)),
    ("dpd", "Carmen", "Ortega Castillo", "data_protection_officer", ("ayto",)),
)


def _units() -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for code, name, parent in DEMO_UNITS:
        units[code], _ = Unit.objects.get_or_create(
            code=code, defaults={"name": name, "parent": units.get(parent)}
        )
    return units


@transaction.atomic
def load() -> list[str]:
    """Create what is missing; return the usernames created."""
    sync_roles()
    units = _units()
    created: list[str] = []
    for username, given_name, surnames, role, unit_codes in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        user = User(
            username=username,
            first_name=given_name,
            last_name=surnames,
            email=f"{username}@ayuntamiento.example",
            is_superuser=role == "administrator",
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        user_set_roles(user=user, roles=[role])
        user_set_units(user=user, units=[units[code] for code in unit_codes])
        created.append(username)
    return created
