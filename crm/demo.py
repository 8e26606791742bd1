"""Demo data for the embedded default: a user per role (password "demo").

``manage.py seed_demo`` runs every app's ``demo.load()`` (crm first), each idempotent: running it
twice changes nothing. Demo logins are never created outside the embedded default.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_PASSWORD = "demo"  # noqa: S105  (documented demo password, embedded default only)

# username, given name, surname, role
DEMO_USERS = (
    ("admin", "Ana", "Administradora Ruiz", "administrator"),
    ("atencion", "Lucía", "Martín Gómez", "citizen_service"),
    ("tramitador", "Javier", "López Fernández", "case_handler"),
    ("campanas", "Marta", "Sánchez Pérez", "communication"),
    ("comercial", "David", "García Romero", "promotion"),
    ("inspector", "Sergio", "Navarro Díaz", "inspector"),
    ("direccion", "Elena", "Torres Molina", "management"),
    ("dpd", "Carmen", "Ortega Castillo", "data_protection_officer"),
)


@transaction.atomic
def load() -> list[str]:
    """Create the demo users that do not exist yet; return the usernames created."""
    User = get_user_model()
    created: list[str] = []
    for username, given_name, surname, role in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        user = User(
            username=username,
            first_name=given_name,
            last_name=surname,
            email=f"{username}@ayuntamiento.example",
            is_staff=role == "administrator",
            is_superuser=role == "administrator",
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        created.append(username)
    return created
