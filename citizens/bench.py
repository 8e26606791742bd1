"""The citizens module's bench data, scenarios and timed jobs (docs/benchmarks.md, "Citizens").

The data set is built by PostgreSQL itself (``INSERT ... SELECT ... FROM generate_series``): a
million people with their contact points in a minute or two instead of an hour of Python, into
tables without their secondary indexes (built once at the end) nor row-by-row foreign-key checks
(see ``bulk_load``). Every
value of row ``n`` is a function of ``n``: picks from the lists below are indexed by
``hashint8extended(n, seed)`` (PostgreSQL's stable 64-bit hash, the one hash partitioning relies
on), never by ``random()``, so a chunk built again, or resumed after a stop, is the same. People
and organisations get explicit primary keys (row ``n`` is ``id = n + 1``), so interactions and
relationships can point at them by number.

Names, documents and phones in ``search_text`` are written exactly as
:func:`citizens.text.build_search_text` writes them: the name lists are normalised in Python, by
``citizens.text.normalise`` itself, and only concatenated in SQL (tests/citizens/test_bench_data.py
compares every row with ``build_search_text``). Likewise ``municipalities``: the municipality list's
keys come from ``citizens.text.municipality_key`` (the tests compare every row with
``municipality_keys`` of its addresses).

Documents are valid: DNI numbers ``(n * MIX + c) mod 10^8`` (a bijection: no two people share one)
with the modulo-23 check letter; NIEs likewise on X/Y/Z + 7 digits; organisations' CIFs with the
Luhn control (letter for public bodies). Mobiles are +34 6xx xxx xxx, unique by the same bijection;
landlines use the province's area code. Emails use ``.example`` domains (RFC 2606): a bench must
never be able to write to anyone.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Max

from citizens.models import (
    ConsentPurpose,
    CustomField,
    EmailAddress,
    Interaction,
    Organization,
    Person,
)
from citizens.text import municipality_key, normalise
from crm.bench import BENCH_USER, JobTimer, SkipJob, generator, job, scenario

# --- Deterministic numbers (the SQL below uses the same constants) -----------------------------

# Odd and not a multiple of 5: n -> (n * MIX + c) mod 10^k is a bijection for every k.
MIX = 7_919_113
DNI_OFFSET = 12_345_678
NIE_OFFSET = 1_234_567
MOBILE_OFFSET = 33_333_333
LANDLINE_OFFSET = 4_444_444
CIF_OFFSET = 7_654_321
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
CIF_LETTERS = "JABCDEFGHI"

# Person number 0 ("the bench person") has 50 interactions and every kind of data (the 360° page).
BENCH_PERSON = 0
BENCH_PERSON_INTERACTIONS = 50
# Every hundredth person from number 37 on is registered again: a duplicate of the person before
# (same name and birth date, same mobile, no document, no email), for the duplicate scan.
DUPLICATE_EVERY, DUPLICATE_AT = 100, 37


def document_for(n: int) -> tuple[str, str]:
    """(document type, number) of person ``n``."""
    if is_duplicate(n) or n % 97 == 50:
        return "", ""
    if n % 20 == 19:
        digits = (n * MIX + NIE_OFFSET) % 10**7
        prefix = n % 3
        return "nie", f"{'XYZ'[prefix]}{digits:07d}{DNI_LETTERS[(prefix * 10**7 + digits) % 23]}"
    number = (n * MIX + DNI_OFFSET) % 10**8
    return "dni", f"{number:08d}{DNI_LETTERS[number % 23]}"


def dni_for(n: int) -> str:
    """The DNI number ``n`` gives (also for numbers no person has: new people to import)."""
    number = (n * MIX + DNI_OFFSET) % 10**8
    return f"{number:08d}{DNI_LETTERS[number % 23]}"


def is_duplicate(n: int) -> bool:
    return n % DUPLICATE_EVERY == DUPLICATE_AT


def mobile_for(n: int) -> str | None:
    """Person ``n``'s mobile in E.164 (one in ten has none; a duplicate has the original's)."""
    if is_duplicate(n):
        n -= 1
    if n % 10 == 9:
        return None
    return new_mobile(n)


def new_mobile(n: int) -> str:
    return f"+346{(n * MIX + MOBILE_OFFSET) % 10**8:08d}"


def cif_for(m: int, letter: str) -> str:
    """A CIF with a valid control character: Luhn over the seven digits."""
    digits = f"{(m * MIX + CIF_OFFSET) % 10**7:07d}"
    total = 0
    for position, char in enumerate(digits, 1):
        value = int(char)
        if position % 2:
            value *= 2
            value = value // 10 + value % 10
        total += value
    check = (10 - total % 10) % 10
    return f"{letter}{digits}{CIF_LETTERS[check] if letter in 'NPQRSW' else check}"


# --- The lists the data is picked from (written for this bench) --------------------------------

FEMALE_NAMES = (
    "María", "Carmen", "Ana", "Isabel", "Laura", "Cristina", "Marta", "Lucía", "Elena", "Paula",
    "Sara", "Raquel", "Pilar", "Rosa", "Teresa", "Dolores", "Josefa", "María José",
    "María del Carmen", "Ana María", "Nuria", "Silvia", "Patricia", "Beatriz", "Rocío", "Alba",
    "Julia", "Irene", "Andrea", "Claudia", "Mercedes", "Inmaculada", "Montserrat", "Concepción",
    "Ángela", "Sofía", "Noelia", "Eva", "Lorena", "Begoña", "Ainhoa", "Nerea", "Úrsula", "Aitana",
)  # fmt: skip
MALE_NAMES = (
    "Antonio", "José", "Manuel", "Francisco", "David", "Juan", "Javier", "José Antonio",
    "Daniel", "José Luis", "Francisco Javier", "Carlos", "Jesús", "Alejandro", "Miguel",
    "José Manuel", "Rafael", "Pablo", "Pedro", "Ángel", "Sergio", "Fernando", "Jorge", "Luis",
    "Alberto", "Álvaro", "Juan Carlos", "Adrián", "Diego", "Raúl", "Enrique", "Ramón", "Vicente",
    "Iván", "Rubén", "Óscar", "Andrés", "Joaquín", "Santiago", "Íñigo", "Xavier", "Jordi", "Iker",
    "Xoán",
)  # fmt: skip
# (surname, weight): the common ones are more common, as in any register.
SURNAMES = (
    ("García", 6), ("Rodríguez", 4), ("González", 4), ("Fernández", 4), ("López", 4),
    ("Martínez", 4), ("Sánchez", 4), ("Pérez", 4), ("Gómez", 3), ("Martín", 3), ("Jiménez", 2),
    ("Ruiz", 2), ("Hernández", 2), ("Díaz", 2), ("Moreno", 2), ("Muñoz", 2), ("Álvarez", 2),
    ("Romero", 2), ("Alonso", 1), ("Gutiérrez", 1), ("Navarro", 1), ("Torres", 1),
    ("Domínguez", 1), ("Vázquez", 1), ("Ramos", 1), ("Gil", 1), ("Ramírez", 1), ("Serrano", 1),
    ("Blanco", 1), ("Molina", 1), ("Morales", 1), ("Suárez", 1), ("Ortega", 1), ("Delgado", 1),
    ("Castro", 1), ("Ortiz", 1), ("Rubio", 1), ("Marín", 1), ("Sanz", 1), ("Núñez", 1),
    ("Iglesias", 1), ("Medina", 1), ("Garrido", 1), ("Cortés", 1), ("Castillo", 1), ("Santos", 1),
    ("Lozano", 1), ("Guerrero", 1), ("Cano", 1), ("Prieto", 1), ("Méndez", 1), ("Cruz", 1),
    ("Calvo", 1), ("Gallego", 1), ("Vidal", 1), ("León", 1), ("Márquez", 1), ("Herrera", 1),
    ("Peña", 1), ("Flores", 1), ("Cabrera", 1), ("Campos", 1), ("Vega", 1), ("Fuentes", 1),
    ("Carrasco", 1), ("Díez", 1), ("Caballero", 1), ("Reyes", 1), ("Nieto", 1), ("Aguilar", 1),
    ("Pascual", 1), ("Santana", 1), ("Herrero", 1), ("Montero", 1), ("Lorenzo", 1),
    ("Hidalgo", 1), ("Giménez", 1), ("Ibáñez", 1), ("Ferrer", 1), ("Durán", 1),
    ("de la Fuente", 1), ("Etxeberria", 1), ("Puig", 1), ("Ferreira", 1), ("Castells", 1),
    ("Otero", 1), ("Rey", 1), ("Sáez", 1), ("Benítez", 1), ("Pastor", 1),
)  # fmt: skip
# (municipality, province, first postcode, postcodes, landline area code, weight).
MUNICIPALITIES = (
    ("Madrid", "Madrid", 28001, 55, "91", 30),
    ("Alcalá de Henares", "Madrid", 28801, 7, "91", 4),
    ("Móstoles", "Madrid", 28931, 7, "91", 4),
    ("Getafe", "Madrid", 28901, 9, "91", 3),
    ("Barcelona", "Barcelona", 8001, 42, "93", 16),
    ("L'Hospitalet de Llobregat", "Barcelona", 8901, 8, "93", 3),
    ("Badalona", "Barcelona", 8911, 8, "93", 2),
    ("Sabadell", "Barcelona", 8201, 8, "93", 2),
    ("Valencia", "Valencia", 46001, 26, "96", 8),
    ("Sevilla", "Sevilla", 41001, 20, "954", 7),
    ("Dos Hermanas", "Sevilla", 41700, 4, "954", 1),
    ("Zaragoza", "Zaragoza", 50001, 22, "976", 7),
    ("Calatayud", "Zaragoza", 50300, 1, "976", 1),
    ("Málaga", "Málaga", 29001, 18, "952", 6),
    ("Marbella", "Málaga", 29600, 4, "952", 2),
    ("Murcia", "Murcia", 30001, 12, "968", 5),
    ("Cartagena", "Murcia", 30201, 5, "968", 2),
    ("Palma", "Illes Balears", 7001, 15, "971", 4),
    ("Las Palmas de Gran Canaria", "Las Palmas", 35001, 18, "928", 4),
    ("Santa Cruz de Tenerife", "Santa Cruz de Tenerife", 38001, 10, "922", 2),
    ("Bilbao", "Bizkaia", 48001, 15, "94", 4),
    ("Vitoria-Gasteiz", "Araba/Álava", 1001, 15, "945", 3),
    ("Donostia / San Sebastián", "Gipuzkoa", 20001, 18, "943", 2),
    ("Pamplona", "Navarra", 31001, 15, "948", 2),
    ("Alicante", "Alicante", 3001, 16, "965", 4),
    ("Elche", "Alicante", 3201, 6, "966", 2),
    ("Córdoba", "Córdoba", 14001, 14, "957", 3),
    ("Granada", "Granada", 18001, 15, "958", 3),
    ("Almería", "Almería", 4001, 9, "950", 2),
    ("Cádiz", "Cádiz", 11001, 12, "956", 1),
    ("Jerez de la Frontera", "Cádiz", 11401, 8, "956", 2),
    ("Huelva", "Huelva", 21001, 7, "959", 1),
    ("Jaén", "Jaén", 23001, 9, "953", 1),
    ("Valladolid", "Valladolid", 47001, 16, "983", 3),
    ("Burgos", "Burgos", 9001, 7, "947", 2),
    ("Salamanca", "Salamanca", 37001, 9, "923", 2),
    ("León", "León", 24001, 10, "987", 1),
    ("Oviedo", "Asturias", 33001, 13, "985", 2),
    ("Gijón", "Asturias", 33201, 13, "985", 2),
    ("Santander", "Cantabria", 39001, 12, "942", 2),
    ("A Coruña", "A Coruña", 15001, 11, "981", 3),
    ("Santiago de Compostela", "A Coruña", 15701, 7, "981", 1),
    ("Vigo", "Pontevedra", 36201, 16, "986", 3),
    ("Logroño", "La Rioja", 26001, 9, "941", 2),
    ("Toledo", "Toledo", 45001, 8, "925", 1),
    ("Albacete", "Albacete", 2001, 8, "967", 2),
    ("Badajoz", "Badajoz", 6001, 11, "924", 2),
    ("Cáceres", "Cáceres", 10001, 5, "927", 1),
    ("Castellón de la Plana", "Castellón", 12001, 6, "964", 2),
    ("Tarragona", "Tarragona", 43001, 8, "977", 1),
    ("Lleida", "Lleida", 25001, 8, "973", 1),
    ("Girona", "Girona", 17001, 7, "972", 1),
    ("Huesca", "Huesca", 22001, 6, "974", 1),
    ("Teruel", "Teruel", 44001, 3, "978", 1),
    ("Soria", "Soria", 42001, 5, "975", 1),
)
STREETS = (
    "Calle Mayor", "Calle Real", "Avenida de la Constitución", "Plaza de España", "Calle Nueva",
    "Calle de la Iglesia", "Avenida de Andalucía", "Calle del Sol", "Calle San José",
    "Paseo de la Castellana", "Calle Alcalá", "Avenida Diagonal", "Calle Ancha",
    "Camino Viejo", "Travesía del Carmen", "Calle Cervantes", "Calle Goya", "Ronda Norte",
    "Calle de la Paz", "Avenida de la Libertad", "Calle Rosalía de Castro", "Carrer Major",
    "Calle Jardines", "Calle del Pilar", "Avenida del Mar", "Plaza Mayor", "Calle Doctor Fleming",
    "Calle Sagasta", "Calle Francisco de Quevedo", "Kale Nagusia",
)  # fmt: skip
DOMAINS = ("correo.example", "buzon.example", "email.example", "mail.example", "red.example")
# (tag, chance in sixteenths) of a person having it.
PERSON_TAGS = (
    ("vecindario", 3), ("voluntariado", 2), ("comercio-local", 1), ("mayores", 2),
    ("juventud", 2), ("deportes", 2), ("cultura", 2), ("familia-numerosa", 1),
    ("discapacidad", 1), ("boletin", 3),
)  # fmt: skip
ORGANIZATION_TAGS = (("proveedor", 3), ("subvencion", 2), ("entidad-colaboradora", 2))
CHANNELS = ("", "", "", "", "email", "phone", "in_person", "letter", "web_form", "chat")
LANGUAGES = (("es", 85), ("ca", 6), ("gl", 3), ("eu", 2), ("ca-valencia", 2), ("en", 1), ("fr", 1))
STUDIES = ("Primarios", "Secundarios", "Formación profesional", "Universitarios")
CONSENT_SOURCES = ("web_form", "in_person", "paper", "phone", "email", "preferences")
SUBJECTS = (
    "Solicitud de empadronamiento", "Consulta sobre el IBI", "Queja por ruido nocturno",
    "Cita previa en servicios sociales", "Información sobre ayudas al alquiler",
    "Reclamación de una multa", "Solicitud de certificado de convivencia",
    "Aviso de farola fundida", "Consulta sobre licencia de obra menor",
    "Recogida de enseres", "Inscripción en actividades deportivas",
    "Bonificación de la tasa de basuras",
    "Solicitud de tarjeta de aparcamiento", "Consulta sobre plusvalía",
    "Petición de contenedor de obra", "Sugerencia sobre el parque", "Cambio de domicilio fiscal",
    "Solicitud de ayuda a domicilio", "Información de la escuela de música",
    "Queja por limpieza viaria", "Consulta del estado de su expediente",
    "Inscripción en el boletín municipal", "Solicitud de vado permanente",
    "Renovación de la tarjeta de transporte", "Invitación a la jornada de puertas abiertas",
)  # fmt: skip
TEXTS = (
    "La persona llama para pedir información y se le explica el procedimiento.",
    "Se le indica la documentación necesaria y se le da cita.",
    "Se registra la solicitud y se remite al servicio competente.",
    "Se le envía por correo electrónico el formulario correspondiente.",
    "Pide que se le llame cuando haya novedades.",
)
INTERACTION_CHANNELS = (
    "phone", "phone", "phone", "email", "email", "in_person", "in_person", "web_form", "letter",
    "chat",
)  # fmt: skip
# Organisations: (kind, CIF letter, words before the middle, middle from, words after, weight).
ORGANIZATION_FORMS = (
    ("company", "B", "Construcciones", "surname", "S.L.", 6),
    ("company", "B", "Transportes", "surname", "S.L.", 4),
    ("company", "B", "Asesoría", "surname", "S.L.", 4),
    ("company", "B", "Talleres", "surname", "S.L.", 3),
    ("company", "A", "Distribuciones", "surname", "S.A.", 3),
    ("company", "B", "Reformas", "surname", "S.L.U.", 3),
    ("company", "B", "Panadería", "surname", "S.L.", 3),
    ("company", "B", "Farmacia", "surname", "S.L.", 2),
    ("company", "B", "Gestoría", "surname", "S.L.", 3),
    ("company", "B", "Inmobiliaria", "municipality", "S.L.", 3),
    ("company", "F", "Cooperativa Agrícola de", "municipality", "S.Coop.", 2),
    ("company", "B", "Hostelería", "municipality", "S.L.", 3),
    ("company", "B", "Informática", "surname", "S.L.", 3),
    ("company", "A", "Bodegas", "surname", "S.A.", 2),
    ("company", "B", "Limpiezas", "municipality", "S.L.", 3),
    ("company", "B", "Instalaciones Eléctricas", "surname", "S.L.", 3),
    ("company", "B", "Autoescuela", "municipality", "S.L.", 2),
    ("company", "B", "Ferretería", "surname", "S.L.", 2),
    ("company", "B", "Peluquería", "surname", "S.L.", 2),
    ("association", "G", "Asociación de Vecinos de", "municipality", "", 5),
    ("association", "G", "Asociación Cultural", "surname", "", 3),
    ("association", "G", "Asociación de Comerciantes de", "municipality", "", 3),
    ("association", "G", "Asociación Juvenil", "municipality", "", 2),
    ("association", "G", "Asociación de Mayores de", "municipality", "", 3),
    ("association", "G", "Asociación de Madres y Padres del Alumnado de", "municipality", "", 2),
    ("foundation", "G", "Fundación", "surname", "", 5),
    ("public_body", "P", "Consorcio de Aguas de", "municipality", "", 1),
    ("public_body", "P", "Mancomunidad de Servicios de", "municipality", "", 2),
    ("collective", "H", "Comunidad de Propietarios", "street", "", 4),
    ("collective", "G", "Colectivo Vecinal", "municipality", "", 2),
    ("other", "G", "Club Deportivo", "municipality", "", 4),
    ("other", "G", "Peña Cultural", "surname", "", 2),
)
SECTORS = (
    "Construcción", "Comercio", "Hostelería", "Transporte", "Servicios", "Agricultura",
    "Tecnología", "Educación", "Sanidad", "Cultura", "",
)  # fmt: skip
POSITIONS = ("Administrador único", "Presidencia", "Secretaría", "Gerencia", "Tesorería", "")
CUSTOM_FIELDS = (
    # (key, label, type, choices)
    ("empadronado_desde", "Empadronado desde", CustomField.Type.DATE, ()),
    ("perro_censado", "Perro censado", CustomField.Type.BOOLEAN, ()),
    ("nivel_estudios", "Nivel de estudios", CustomField.Type.CHOICE, STUDIES),
)
CONSENT_PURPOSES = (
    ("boletin", "Boletín municipal", "Acepto recibir el boletín municipal por correo electrónico."),
    ("encuestas", "Encuestas de satisfacción", "Acepto que se me invite a encuestas."),
)

# The scenarios' filters: a common surname, a big city, a frequent tag.
SEARCH = {"q": "garcia", "municipality": "Sevilla", "tag": "voluntariado"}
SEARCH_PAGES = 10
DEEP_PAGE = 10_000
IMPORT_ROWS = 100_000


def _weighted(items: Iterable[tuple[Any, int]]) -> list[Any]:
    """Each item repeated by its weight, so that a uniform pick follows the weights."""
    return [item for item, weight in items for _ in range(weight)]


def _slug(text: str) -> str:
    """A name as the local part of an email: normalised, no spaces or punctuation."""
    return "".join(char for char in normalise(text) if char.isalnum())


def _name_arrays(prefix: str, names: Iterable[str]) -> dict[str, list[str]]:
    names = list(names)
    return {
        prefix: names,
        f"{prefix}_norm": [normalise(name) for name in names],
        f"{prefix}_slug": [_slug(name) for name in names],
    }


def _person_params() -> dict[str, Any]:
    municipalities = _weighted((place, place[-1]) for place in MUNICIPALITIES)
    given = _name_arrays("given", [*FEMALE_NAMES, *MALE_NAMES])
    surnames = _name_arrays("surname", _weighted(SURNAMES))
    return {
        **given,
        "given_female": [True] * len(FEMALE_NAMES) + [False] * len(MALE_NAMES),
        "females": len(FEMALE_NAMES),
        "males": len(MALE_NAMES),
        **surnames,
        "surnames": len(surnames["surname"]),
        **_municipality_params(municipalities),
        "places": len(municipalities),
        "streets": list(STREETS),
        "domains": list(DOMAINS),
        "channels": list(CHANNELS),
        "studies": list(STUDIES),
        "sources": list(CONSENT_SOURCES),
        "mix": MIX,
        "dni_offset": DNI_OFFSET,
        "nie_offset": NIE_OFFSET,
        "mobile_offset": MOBILE_OFFSET,
        "landline_offset": LANDLINE_OFFSET,
        "letters": DNI_LETTERS,
        "dup_every": DUPLICATE_EVERY,
        "dup_at": DUPLICATE_AT,
        "bench_person": BENCH_PERSON,
    }


def _municipality_params(municipalities: list[tuple]) -> dict[str, Any]:
    return {
        "muni": [place[0] for place in municipalities],
        "muni_norm": [normalise(place[0]) for place in municipalities],
        "muni_key": [municipality_key(place[0]) for place in municipalities],
        "province": [place[1] for place in municipalities],
        "postcode_first": [place[2] for place in municipalities],
        "postcode_count": [place[3] for place in municipalities],
        "area": [place[4] for place in municipalities],
    }


def _tags_sql(hash_column: str, tags: Iterable[tuple[str, int]]) -> str:
    """The tags a row has: tag i when the i-th four bits of its hash are below its chance."""
    cases = ", ".join(
        f"CASE WHEN (({hash_column} >> {4 * index}) & 15) < {chance} THEN '{tag}' END"
        for index, (tag, chance) in enumerate(tags)
    )
    return f"array_remove(ARRAY[{cases}]::text[], NULL)"


def _landline_sql(sql: str) -> str:
    """Replace ``/*LANDLINE(value, area)*/`` with the subscriber digits of a landline in that
    area: as many as the area code leaves of nine, the first never 0 (940... is not a number)."""

    def digits(match: re.Match) -> str:
        value, area = match.group(1), match.group(2)
        rest = f"(9 - length({area}))"
        unit = f"(10 ^ ({rest} - 1))::bigint"
        return f"({unit} * (1 + mod({value}, 9)) + mod(({value}) / 9, {unit}))::text"

    return re.sub(r"/\*LANDLINE\((.+?), (\w+(?:\.\w+)?)\)\*/", digits, sql)


def _choice_sql(hash_expression: str, weighted: Iterable[tuple[str, int]]) -> str:
    """One of ``weighted`` (value, weight in hundredths) by ``hash_expression``: a CASE on the
    ranges, as fast as a pick from a short array."""
    cases, upper = [], 0
    for value, weight in weighted:
        upper += weight
        cases.append(f"WHEN mod({hash_expression}, 100) < {upper} THEN '{value}'")
    return f"CASE {' '.join(cases)} ELSE '{value}' END"


def _execute(sql: str, params: Any = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _fetch_value(sql: str, params: Any = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _sync_sequence(table: str) -> None:
    """Rows with explicit ids: the sequence goes on after the highest (never back below it)."""
    _execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (our own name)
        f"GREATEST((SELECT max(id) FROM {table}), 1))"
    )


def reference_data() -> dict[str, int]:
    """The custom fields people's values belong to and the consent purposes (idempotent); the
    purposes' ids by code."""
    for order, (key, label, kind, choices) in enumerate(CUSTOM_FIELDS):
        CustomField.objects.get_or_create(
            applies_to=CustomField.Applies.PERSON,
            key=key,
            defaults={"label": label, "type": kind, "choices": list(choices), "order": order},
        )
    purposes = {}
    for code, name, text in CONSENT_PURPOSES:
        purpose, _created = ConsentPurpose.objects.get_or_create(
            code=code, defaults={"name": name, "text": text}
        )
        purposes[code] = purpose.pk
    return purposes


# --- Bulk loading ------------------------------------------------------------------------------

PEOPLE_TABLES = (
    "citizens_person",
    "citizens_emailaddress",
    "citizens_phonenumber",
    "citizens_postaladdress",
    "citizens_consent",
)
ORGANIZATION_TABLES = ("citizens_organization", "citizens_relationship")
INTERACTION_TABLES = ("citizens_interaction",)
# The definitions of the indexes a bulk load dropped, kept in the database itself: a load that
# stops half-way leaves them for the next run's finish step to build.
_SUSPENDED = "bench_suspended_index"


def _suspended(tables: Iterable[str]) -> list[tuple[str, str]]:
    """(index name, definition) of the indexes of ``tables`` waiting to be built."""
    if not _fetch_value("SELECT to_regclass(%s) IS NOT NULL", [_SUSPENDED]):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT index_name, definition FROM {_SUSPENDED} "  # noqa: S608 (our own name)
            "WHERE table_name = ANY(%s) ORDER BY index_name",
            [list(tables)],
        )
        return cursor.fetchall()


def suspend_indexes(tables: Iterable[str]) -> None:
    """Drop the secondary indexes of ``tables`` (not primary keys, not those of constraints)
    and keep their definitions: a load builds each once at the end (``restore_indexes``)
    instead of updating it row by row, several times faster (the trigram index above all)."""
    tables = list(tables)
    _execute(
        f"CREATE TABLE IF NOT EXISTS {_SUSPENDED} ("
        "index_name text PRIMARY KEY, table_name text NOT NULL, definition text NOT NULL)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_SUSPENDED} (index_name, table_name, definition) "  # noqa: S608
            """
            SELECT i.relname, t.relname, pg_get_indexdef(x.indexrelid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s) AND pg_table_is_visible(t.oid) AND NOT x.indisprimary
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            ON CONFLICT (index_name) DO NOTHING
            RETURNING index_name
            """,
            [tables],
        )
        dropped = [name for (name,) in cursor.fetchall()]
        for name in dropped:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def restore_indexes(tables: Iterable[str]) -> None:
    """Build the indexes ``suspend_indexes`` dropped (a no-op when none is missing)."""
    pending = _suspended(tables)
    if not pending:
        return
    _execute("SET LOCAL maintenance_work_mem = '1GB'")
    for name, definition in pending:
        if not _fetch_value("SELECT to_regclass(%s) IS NOT NULL", [f'"{name}"']):
            _execute(definition)
        _execute(f"DELETE FROM {_SUSPENDED} WHERE index_name = %s", [name])  # noqa: S608


@contextmanager
def bulk_load(tables: Iterable[str], *, start: int) -> Iterator[None]:
    """A chunk of a load: into an empty table (``start == 0``, or a load that stopped half-way)
    without secondary indexes, and without the row-by-row foreign-key checks (the rows point at
    ids made the same way: tests/citizens/test_bench_data.py checks them). The generator's
    finish step builds the indexes."""
    tables = list(tables)
    if start == 0 or _suspended(tables):
        suspend_indexes(tables)
    superuser = _fetch_value("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if superuser:
        _execute("SET LOCAL session_replication_role = replica")
    yield
    if superuser:
        _execute("SET LOCAL session_replication_role = origin")


# --- People ------------------------------------------------------------------------------------

# The lists people are picked from, as small tables joined by position: a join reads all the
# columns of a pick at once, several times faster than subscripting long arrays row by row.
_PEOPLE_LOOKUPS = """
DROP TABLE IF EXISTS bench_given, bench_surname, bench_place;
CREATE TEMP TABLE bench_given AS
SELECT * FROM unnest(%(given_female)s::bool[], %(given)s::text[], %(given_norm)s::text[],
    %(given_slug)s::text[]) WITH ORDINALITY AS t(female, name, norm, slug, i);
CREATE TEMP TABLE bench_surname AS
SELECT * FROM unnest(%(surname)s::text[], %(surname_norm)s::text[], %(surname_slug)s::text[])
    WITH ORDINALITY AS t(name, norm, slug, i);
CREATE TEMP TABLE bench_place AS
SELECT * FROM unnest(%(muni)s::text[], %(muni_key)s::text[], %(province)s::text[],
    %(postcode_first)s::int[], %(postcode_count)s::int[], %(area)s::text[])
    WITH ORDINALITY AS t(muni, muni_key, province, postcode_first, postcode_count, area, i);
ANALYZE bench_given, bench_surname, bench_place;
"""

# One row per person of the chunk, with everything derived from n; the inserts below read it.
_PEOPLE_CHUNK = """
DROP TABLE IF EXISTS bench_people_chunk;
CREATE TEMP TABLE bench_people_chunk AS
WITH base AS (
    SELECT
        n,
        -- a duplicate copies the person before it: same hashes for names, birth and place
        CASE WHEN mod(n, %(dup_every)s) = %(dup_at)s THEN n - 1 ELSE n END AS src,
        mod(n, %(dup_every)s) = %(dup_at)s AS duplicate,
        hashint8extended(n, 5) & 2147483647 AS h_contact,
        hashint8extended(n, 6) & 2147483647 AS h_misc,
        hashint8extended(n, 7) & 9223372036854775807 AS h_tags,
        hashint8extended(n, 8) & 2147483647 AS h_custom,
        hashint8extended(n, 9) & 2147483647 AS h_time
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS n
), hashed AS (
    SELECT
        base.*,
        hashint8extended(src, 1) & 2147483647 AS h_name,
        hashint8extended(src, 2) & 2147483647 AS h_s1,
        hashint8extended(src, 3) & 2147483647 AS h_s2,
        hashint8extended(src, 4) & 2147483647 AS h_place
    FROM base
), picked AS (
    SELECT
        hashed.*,
        CASE WHEN mod(h_name, 100) < 51 THEN 1 + mod(h_name / 100, %(females)s)
            ELSE %(females)s + 1 + mod(h_name / 100, %(males)s) END AS gi,
        1 + mod(h_s1, %(surnames)s) AS s1i,
        1 + mod(h_s2, %(surnames)s) AS s2i,
        1 + mod(h_place, %(places)s) AS pi,
        1 + mod(h_place / 1000, %(places)s) AS wi,
        CASE
            WHEN duplicate OR mod(n, 97) = 50 THEN ''
            WHEN mod(n, 20) = 19 THEN 'nie'
            ELSE 'dni'
        END AS doc_type,
        mod(n * %(mix)s + %(dni_offset)s, 100000000) AS dni_digits,
        mod(n * %(mix)s + %(nie_offset)s, 10000000) AS nie_digits,
        CASE WHEN mod(src, 10) = 9 THEN NULL
            ELSE '+346' || lpad(mod(src * %(mix)s + %(mobile_offset)s, 100000000)::text, 8, '0')
        END AS mobile
    FROM hashed
)
SELECT
    n,
    n + 1 AS id,
    duplicate,
    g.name AS given,
    g.norm AS given_norm,
    CASE WHEN mod(h_name, 100) = 99 THEN '' WHEN g.female THEN 'female' ELSE 'male' END AS sex,
    s1.name AS s1,
    s1.norm AS s1_norm,
    -- people with an NIE have one surname in two cases out of three
    CASE WHEN doc_type = 'nie' AND mod(h_s2, 3) > 0 THEN '' ELSE s2.name END AS s2,
    CASE WHEN doc_type = 'nie' AND mod(h_s2, 3) > 0 THEN NULL ELSE s2.norm END AS s2_norm,
    doc_type,
    CASE doc_type
        WHEN 'dni' THEN lpad(dni_digits::text, 8, '0')
            || substr(%(letters)s, 1 + mod(dni_digits, 23)::int, 1)
        WHEN 'nie' THEN substr('XYZ', 1 + mod(n, 3)::int, 1) || lpad(nie_digits::text, 7, '0')
            || substr(%(letters)s, 1 + mod(mod(n, 3) * 10000000 + nie_digits, 23)::int, 1)
        ELSE ''
    END AS doc,
    date '1930-01-01' + mod(h_place / 3, 27000)::int AS birth_date,
    p.muni,
    p.muni_key,
    p.province,
    lpad((p.postcode_first + mod(h_place / 7, p.postcode_count))::text, 5, '0') AS postcode,
    (%(streets)s::text[])[1 + mod(h_place / 11, cardinality(%(streets)s::text[]))] AS street,
    (1 + mod(h_place / 13, 150))::text AS street_number,
    CASE mod(h_place / 17, 3)
        WHEN 0 THEN ''
        WHEN 1 THEN (1 + mod(h_place / 19, 8))::text || 'º '
            || substr('ABCD', 1 + mod(h_place / 23, 4)::int, 1)
        ELSE 'Bajo'
    END AS extra,
    w.muni AS work_muni,
    w.muni_key AS work_muni_key,
    w.province AS work_province,
    lpad((w.postcode_first + mod(h_contact / 7, w.postcode_count))::text, 5, '0')
        AS work_postcode,
    (%(streets)s::text[])[1 + mod(h_contact / 11, cardinality(%(streets)s::text[]))]
        AS work_street,
    n = %(bench_person)s OR (NOT duplicate AND mod(h_contact, 20) > 0) AS has_address,
    n = %(bench_person)s OR (NOT duplicate AND mod(h_contact / 20, 12) = 0) AS has_work_address,
    CASE WHEN n = %(bench_person)s OR (NOT duplicate AND mod(h_contact / 240, 10) > 0)
        THEN g.slug || '.' || s1.slug || '.' || n::text || '@'
            || (%(domains)s::text[])[1 + mod(h_contact / 2400, cardinality(%(domains)s::text[]))]
    END AS email1,
    CASE WHEN n = %(bench_person)s OR (NOT duplicate AND mod(h_contact / 12000, 20) = 0)
        THEN s1.slug || s2.slug || n::text || '@trabajo.example'
    END AS email2,
    mobile,
    CASE WHEN n = %(bench_person)s OR (NOT duplicate
            AND (mod(h_contact / 240000, 4) = 0 OR (mobile IS NULL AND mod(h_contact, 2) = 0)))
        THEN '+34' || p.area || /*LANDLINE(n * %(mix)s + %(landline_offset)s, p.area)*/
    END AS landline,
    CASE WHEN duplicate THEN ARRAY[]::text[] ELSE /*PERSON_TAGS*/ END AS tags,
    CASE WHEN duplicate THEN '{}'::jsonb ELSE jsonb_strip_nulls(jsonb_build_object(
        'empadronado_desde', CASE WHEN n = %(bench_person)s OR mod(h_custom, 10) < 4
            THEN to_char(date '1975-01-01' + mod(h_custom / 10, 18000)::int, 'YYYY-MM-DD') END,
        'perro_censado', CASE WHEN n = %(bench_person)s OR mod(h_custom / 200000, 10) = 0
            THEN true END,
        'nivel_estudios', CASE WHEN n = %(bench_person)s OR mod(h_custom / 2000000, 10) < 3
            THEN (%(studies)s::text[])[
                1 + mod(h_custom / 20000000, cardinality(%(studies)s::text[]))]
        END
    )) END AS custom,
    (%(channels)s::text[])[1 + mod(h_misc, cardinality(%(channels)s::text[]))] AS channel,
    /*LANGUAGE*/ AS language,
    timestamptz '2012-01-01 08:00:00+00' + (n * 240 + mod(h_time, 240)) * interval '1 second'
        AS created_at,
    n = %(bench_person)s OR (NOT duplicate AND mod(h_misc / 1000, 10) < 3) AS newsletter,
    NOT duplicate AND mod(h_misc / 1000, 50) = 7 AS newsletter_withdrawn,
    n = %(bench_person)s OR (NOT duplicate AND mod(h_misc / 50000, 10) = 0) AS surveys,
    (%(sources)s::text[])[1 + mod(h_misc / 500000, cardinality(%(sources)s::text[]))] AS source
FROM picked
JOIN bench_given g ON g.i = picked.gi
JOIN bench_surname s1 ON s1.i = picked.s1i
JOIN bench_surname s2 ON s2.i = picked.s2i
JOIN bench_place p ON p.i = picked.pi
JOIN bench_place w ON w.i = picked.wi;
"""

_PEOPLE_INSERTS = """
INSERT INTO citizens_person (
    id, given_name, first_surname, second_surname, document_type, document_number, birth_date,
    sex, tags, notes, custom, preferred_channel, preferred_language, search_text,
    municipalities, created_at, updated_at, created_by_id, restricted_at, blocked_at,
    merged_into_id
)
SELECT
    id, given, s1, s2, doc_type, doc, birth_date, sex, tags, '', custom, channel, language,
    concat_ws(' ',
        given_norm, s1_norm, s2_norm, NULLIF(lower(doc), ''), email1, email2,
        substr(mobile, 2), substr(mobile, 4), substr(landline, 2), substr(landline, 4)
    ),
    -- citizens.text.municipality_keys: the distinct keys of the addresses, in code point order
    ARRAY(
        SELECT DISTINCT key COLLATE "C" FROM unnest(ARRAY[
            CASE WHEN has_address THEN muni_key END,
            CASE WHEN has_work_address THEN work_muni_key END
        ]) AS key
        WHERE key IS NOT NULL AND key <> ''
        ORDER BY 1
    ),
    created_at, created_at, NULL, NULL, NULL, NULL
FROM bench_people_chunk
ORDER BY n;

INSERT INTO citizens_emailaddress (person_id, organization_id, label, address, is_primary)
SELECT id, NULL, '', email1, true FROM bench_people_chunk WHERE email1 IS NOT NULL ORDER BY n;
INSERT INTO citizens_emailaddress (person_id, organization_id, label, address, is_primary)
SELECT id, NULL, 'Trabajo', email2, email1 IS NULL
FROM bench_people_chunk WHERE email2 IS NOT NULL ORDER BY n;

INSERT INTO citizens_phonenumber (person_id, organization_id, label, number, kind, is_primary)
SELECT id, NULL, '', mobile, 'mobile', true FROM bench_people_chunk WHERE mobile IS NOT NULL
ORDER BY n;
INSERT INTO citizens_phonenumber (person_id, organization_id, label, number, kind, is_primary)
SELECT id, NULL, 'Casa', landline, 'landline', mobile IS NULL
FROM bench_people_chunk WHERE landline IS NOT NULL ORDER BY n;

INSERT INTO citizens_postaladdress (
    person_id, organization_id, label, street, number, extra, postcode, municipality, province,
    country, is_notification
)
SELECT id, NULL, '', street, street_number, extra, postcode, muni, province, 'ES', true
FROM bench_people_chunk WHERE has_address ORDER BY n;
INSERT INTO citizens_postaladdress (
    person_id, organization_id, label, street, number, extra, postcode, municipality, province,
    country, is_notification
)
SELECT id, NULL, 'Trabajo', work_street, '1', '', work_postcode, work_muni, work_province, 'ES',
    NOT has_address
FROM bench_people_chunk WHERE has_work_address ORDER BY n;

INSERT INTO citizens_consent (
    person_id, purpose_id, granted, stated_at, source, text_version, evidence, recorded_by_id
)
SELECT id, %(newsletter)s, true, created_at + interval '1 day', source, '1', '', NULL
FROM bench_people_chunk WHERE newsletter ORDER BY n;
INSERT INTO citizens_consent (
    person_id, purpose_id, granted, stated_at, source, text_version, evidence, recorded_by_id
)
SELECT id, %(newsletter)s, false, created_at + interval '200 days', 'preferences', '1', '', NULL
FROM bench_people_chunk WHERE newsletter AND newsletter_withdrawn ORDER BY n;
INSERT INTO citizens_consent (
    person_id, purpose_id, granted, stated_at, source, text_version, evidence, recorded_by_id
)
SELECT id, %(surveys)s, true, created_at + interval '2 days', source, '1', '', NULL
FROM bench_people_chunk WHERE surveys ORDER BY n;

DROP TABLE bench_people_chunk, bench_given, bench_surname, bench_place;
"""


def count_people() -> int:
    return Person.objects.count()


@generator(
    "people",
    count=count_people,
    default=1_000_000,
    help=(
        "people (ids 1..N) with their emails, phones, addresses, tags, custom values and "
        "consents; person 1 is the bench person"
    ),
    finish=partial(restore_indexes, PEOPLE_TABLES),
)
def create_people(start: int, stop: int) -> None:
    purposes = reference_data()
    params = {**_person_params(), "start": start, "stop": stop}
    chunk = (
        _landline_sql(_PEOPLE_CHUNK)
        .replace("/*PERSON_TAGS*/", _tags_sql("h_tags", PERSON_TAGS))
        .replace("/*LANGUAGE*/", _choice_sql("h_misc / 10", LANGUAGES))
    )
    with bulk_load(PEOPLE_TABLES, start=start):
        _execute(_PEOPLE_LOOKUPS, params)
        _execute(chunk, params)
        _execute(
            _PEOPLE_INSERTS,
            {"newsletter": purposes["boletin"], "surveys": purposes["encuestas"]},
        )
    _sync_sequence("citizens_person")


# --- Organisations -----------------------------------------------------------------------------

_ORGANIZATIONS_CHUNK = """
DROP TABLE IF EXISTS bench_organizations_chunk;
CREATE TEMP TABLE bench_organizations_chunk AS
WITH base AS (
    SELECT
        m,
        hashint8extended(m, 31) & 2147483647 AS h_form,
        hashint8extended(m, 32) & 2147483647 AS h_place,
        hashint8extended(m, 33) & 2147483647 AS h_misc,
        hashint8extended(m, 34) & 2147483647 AS h_people
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS m
), picked AS (
    SELECT
        base.*,
        1 + mod(h_form, cardinality(%(form_kind)s::text[])) AS fi,
        1 + mod(h_form / 1000, cardinality(%(surname)s::text[])) AS si,
        1 + mod(h_place, cardinality(%(muni)s::text[])) AS pi,
        1 + mod(h_place / 1000, cardinality(%(streets)s::text[])) AS ti,
        (%(area)s::text[])[1 + mod(h_place, cardinality(%(muni)s::text[]))] AS area,
        lpad(mod(m * %(mix)s + %(cif_offset)s, 10000000)::text, 7, '0') AS digits
    FROM base
), named AS (
    SELECT
        picked.*,
        (%(form_kind)s::text[])[fi] AS kind,
        (%(form_letter)s::text[])[fi] AS letter,
        CASE (%(form_middle)s::text[])[fi]
            WHEN 'surname' THEN (%(surname)s::text[])[si]
            WHEN 'municipality' THEN (%(muni)s::text[])[pi]
            ELSE (%(streets)s::text[])[ti]
        END AS middle,
        CASE (%(form_middle)s::text[])[fi]
            WHEN 'surname' THEN (%(surname_norm)s::text[])[si]
            WHEN 'municipality' THEN (%(muni_norm)s::text[])[pi]
            ELSE (%(streets_norm)s::text[])[ti]
        END AS middle_norm,
        CASE (%(form_middle)s::text[])[fi]
            WHEN 'surname' THEN (%(surname_slug)s::text[])[si]
            WHEN 'municipality' THEN (%(muni_slug)s::text[])[pi]
            ELSE (%(streets_slug)s::text[])[ti]
        END AS middle_slug,
        -- Luhn over the seven digits: odd positions doubled (digit sum), even ones as they are
        mod(10 - mod(
            (2 * substr(digits, 1, 1)::int) / 10 + mod(2 * substr(digits, 1, 1)::int, 10)
            + substr(digits, 2, 1)::int
            + (2 * substr(digits, 3, 1)::int) / 10 + mod(2 * substr(digits, 3, 1)::int, 10)
            + substr(digits, 4, 1)::int
            + (2 * substr(digits, 5, 1)::int) / 10 + mod(2 * substr(digits, 5, 1)::int, 10)
            + substr(digits, 6, 1)::int
            + (2 * substr(digits, 7, 1)::int) / 10 + mod(2 * substr(digits, 7, 1)::int, 10),
        10), 10) AS check_digit
    FROM picked
)
SELECT
    m,
    m + 1 AS id,
    kind,
    concat_ws(' ', (%(form_before)s::text[])[fi], middle, NULLIF((%(form_after)s::text[])[fi], ''))
        AS name,
    concat_ws(' ', (%(form_before_norm)s::text[])[fi], middle_norm,
        NULLIF((%(form_after_norm)s::text[])[fi], '')) AS name_norm,
    letter || digits || CASE WHEN letter IN ('N', 'P', 'Q', 'R', 'S', 'W')
        THEN substr(%(cif_letters)s, 1 + check_digit, 1) ELSE check_digit::text END AS tax_id,
    (%(sectors)s::text[])[1 + mod(h_misc, cardinality(%(sectors)s::text[]))] AS sector,
    CASE WHEN mod(h_misc / 20, 10) < 3
        THEN 'https://' || middle_slug || m::text || '.example/' ELSE '' END AS website,
    CASE WHEN mod(h_misc / 200, 10) < 8
        THEN 'contacto' || m::text || '@' || middle_slug || '.example' END AS email,
    CASE WHEN mod(h_misc / 2000, 10) < 9
        THEN '+34' || area || /*LANDLINE(m * %(mix)s + %(org_phone_offset)s, area)*/
    END AS phone,
    (%(muni)s::text[])[pi] AS muni,
    (%(muni_key)s::text[])[pi] AS muni_key,
    (%(province)s::text[])[pi] AS province,
    lpad(((%(postcode_first)s::int[])[pi]
        + mod(h_place / 7, (%(postcode_count)s::int[])[pi]))::text, 5, '0') AS postcode,
    (%(streets)s::text[])[ti] AS street,
    (1 + mod(h_place / 13, 150))::text AS street_number,
    /*ORGANIZATION_TAGS*/ AS tags,
    timestamptz '2012-01-01 09:00:00+00' + (m * 2400 + mod(h_misc, 2400)) * interval '1 second'
        AS created_at,
    h_people
FROM named;
"""

_ORGANIZATIONS_INSERTS = """
INSERT INTO citizens_organization (
    id, name, kind, tax_id, sector, website, tags, notes, custom, preferred_channel,
    preferred_language, search_text, municipalities, created_at, updated_at, created_by_id,
    restricted_at, blocked_at, merged_into_id
)
SELECT
    id, name, kind, tax_id, sector, website, tags, '', '{}'::jsonb, '', 'es',
    concat_ws(' ', name_norm, lower(tax_id), email, substr(phone, 2), substr(phone, 4)),
    -- one address each (below)
    CASE WHEN muni_key <> '' THEN ARRAY[muni_key] ELSE ARRAY[]::text[] END,
    created_at, created_at, NULL, NULL, NULL, NULL
FROM bench_organizations_chunk
ORDER BY m;

INSERT INTO citizens_emailaddress (person_id, organization_id, label, address, is_primary)
SELECT NULL, id, '', email, true FROM bench_organizations_chunk WHERE email IS NOT NULL ORDER BY m;

INSERT INTO citizens_phonenumber (person_id, organization_id, label, number, kind, is_primary)
SELECT NULL, id, '', phone, 'landline', true
FROM bench_organizations_chunk WHERE phone IS NOT NULL ORDER BY m;

INSERT INTO citizens_postaladdress (
    person_id, organization_id, label, street, number, extra, postcode, municipality, province,
    country, is_notification
)
SELECT NULL, id, 'Sede', street, street_number, '', postcode, muni, province, 'ES', true
FROM bench_organizations_chunk ORDER BY m;
"""

# Relationships need people: every organisation has a legal representative, three in ten also
# an employee or member; the bench person represents organisation 1 and works for organisation 2.
_RELATIONSHIPS = """
INSERT INTO citizens_relationship (person_id, organization_id, role, position, start_date, end_date)
SELECT
    CASE WHEN m = 0 THEN %(bench_person_id)s
        ELSE %(first_other)s + mod(h_people, %(other_people)s) END,
    id,
    'legal_representative',
    (%(positions)s::text[])[1 + mod(h_people / 7, cardinality(%(positions)s::text[]))],
    created_at::date,
    NULL
FROM bench_organizations_chunk ORDER BY m;

INSERT INTO citizens_relationship (person_id, organization_id, role, position, start_date, end_date)
SELECT
    CASE WHEN m = 1 THEN %(bench_person_id)s
        ELSE %(first_other)s + mod(h_people / 1000, %(other_people)s) END,
    id,
    CASE WHEN kind IN ('association', 'collective', 'other') THEN 'member' ELSE 'employee' END,
    '',
    created_at::date + mod(h_people / 11, 2000)::int,
    CASE WHEN mod(h_people / 13, 5) = 0 THEN created_at::date + 2500 END
FROM bench_organizations_chunk WHERE m = 1 OR mod(h_people / 100, 10) < 3 ORDER BY m;
"""


def _organization_params() -> dict[str, Any]:
    forms = _weighted((form, form[-1]) for form in ORGANIZATION_FORMS)
    municipalities = _weighted((place, place[-1]) for place in MUNICIPALITIES)
    return {
        **_name_arrays("surname", _weighted(SURNAMES)),
        **_name_arrays("streets", STREETS),
        **_municipality_params(municipalities),
        "muni_slug": [_slug(place[0]) for place in municipalities],
        "form_kind": [form[0] for form in forms],
        "form_letter": [form[1] for form in forms],
        "form_before": [form[2] for form in forms],
        "form_before_norm": [normalise(form[2]) for form in forms],
        "form_middle": [form[3] for form in forms],
        "form_after": [form[4] for form in forms],
        "form_after_norm": [normalise(form[4]) for form in forms],
        "sectors": list(SECTORS),
        "mix": MIX,
        "cif_offset": CIF_OFFSET,
        "cif_letters": CIF_LETTERS,
        "org_phone_offset": LANDLINE_OFFSET + 1_111_111,
    }


def count_organizations() -> int:
    return Organization.objects.count()


@generator(
    "organizations",
    count=count_organizations,
    default=100_000,
    help=(
        "organisations (ids 1..N) with email, phone, address, tags and relationships to people "
        "(made after --people)"
    ),
    finish=partial(restore_indexes, ORGANIZATION_TABLES),
)
def create_organizations(start: int, stop: int) -> None:
    params = {**_organization_params(), "start": start, "stop": stop}
    chunk = _landline_sql(_ORGANIZATIONS_CHUNK).replace(
        "/*ORGANIZATION_TAGS*/", _tags_sql("h_misc", ORGANIZATION_TAGS)
    )
    people = count_people()
    if people:
        _check_people_ids(people)
    with bulk_load(ORGANIZATION_TABLES, start=start):
        _execute(chunk, params)
        _execute(_ORGANIZATIONS_INSERTS)
        if people:
            _execute(
                _RELATIONSHIPS,
                {
                    **_other_people(people),
                    "bench_person_id": BENCH_PERSON + 1,
                    "positions": list(POSITIONS),
                },
            )
        _execute("DROP TABLE bench_organizations_chunk")
    _sync_sequence("citizens_organization")
    if people and start == 0:
        _bench_team()


def _other_people(people: int) -> dict[str, int]:
    """Whom generic rows point at: people 2..N (the bench person has their own), or the bench
    person when there is no one else."""
    if people > 1:
        return {"first_other": 2, "other_people": people - 1}
    return {"first_other": 1, "other_people": 1}


def _check_people_ids(people: int) -> None:
    """Other generators point at people by number: their ids must be 1..N."""
    highest = Person.objects.aggregate(highest=Max("id"))["highest"]
    if highest != people:
        raise RuntimeError(
            f"The bench people's ids are not 1..{people} (the highest is {highest}): the bench "
            "database has people of another origin; rebuild it with --reset."
        )


def _bench_team() -> None:
    """The board of organisation 1, with the bench person in it (the 360° page lists teams)."""
    from citizens.models import Team

    team = Team.objects.create(organization_id=1, name="Junta directiva")
    members = [BENCH_PERSON + 1, *range(2, min(count_people(), 4) + 1)]
    team.members.add(*members)


# --- Interactions ------------------------------------------------------------------------------

_INTERACTIONS = """
INSERT INTO citizens_interaction (
    person_id, organization_id, channel, direction, occurred_at, subject, text, staff_id,
    unit_id, related_type, related_id
)
SELECT
    CASE
        WHEN i < %(bench_interactions)s AND %(people)s > 0 THEN %(bench_person_id)s
        WHEN to_org THEN NULL
        ELSE %(first_other)s + mod(h1, %(other_people)s)
    END,
    CASE WHEN to_org AND NOT (i < %(bench_interactions)s AND %(people)s > 0)
        THEN 1 + mod(h1 / 7, greatest(%(organizations)s, 1)) END,
    (%(channels)s::text[])[1 + mod(h2, cardinality(%(channels)s::text[]))],
    CASE WHEN mod(h2 / 10, 3) = 0 THEN 'out' ELSE 'in' END,
    timestamptz '2016-01-01 00:00:00+00' + mod(h3, 283000000) * interval '1 second',
    (%(subjects)s::text[])[1 + mod(h2 / 30, cardinality(%(subjects)s::text[]))],
    CASE WHEN mod(h2 / 3000, 10) < 4
        THEN (%(texts)s::text[])[1 + mod(h2 / 30000, cardinality(%(texts)s::text[]))]
        ELSE '' END,
    CASE WHEN mod(h3 / 7, 5) = 0 THEN %(staff_id)s::bigint END,
    CASE WHEN cardinality(%(units)s::bigint[]) > 0 AND mod(h3 / 70, 3) = 0
        THEN (%(units)s::bigint[])[1 + mod(h3 / 700, greatest(cardinality(%(units)s::bigint[]), 1))]
    END,
    CASE WHEN mod(h3 / 7000, 30) = 0 THEN 'cases.case' ELSE '' END,
    CASE WHEN mod(h3 / 7000, 30) = 0 THEN 1 + mod(h3 / 210000, 100000) END
FROM (
    SELECT
        i,
        hashint8extended(i, 41) & 2147483647 AS h1,
        hashint8extended(i, 42) & 2147483647 AS h2,
        hashint8extended(i, 43) & 2147483647 AS h3,
        (%(organizations)s > 0 AND (%(people)s = 0
            OR mod(hashint8extended(i, 44) & 2147483647, 10) = 0)) AS to_org
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS i
) AS s
ORDER BY i;
"""


def count_interactions() -> int:
    return Interaction.objects.count()


@generator(
    "interactions",
    count=count_interactions,
    default=5_000_000,
    help=(
        "interactions (the timelines): the first 50 with the bench person, nine in ten of the "
        "rest with people, one in ten with organisations (made after --organizations)"
    ),
    chunk=250_000,
    finish=partial(restore_indexes, INTERACTION_TABLES),
)
def create_interactions(start: int, stop: int) -> None:
    from django.contrib.auth import get_user_model

    from crm.models import Unit

    people, organizations = count_people(), count_organizations()
    if not people and not organizations:
        raise RuntimeError("Interactions need people or organisations: make some first.")
    if people:
        _check_people_ids(people)
    staff = get_user_model().objects.filter(username=BENCH_USER).values_list("id", flat=True)
    units = list(Unit.objects.order_by("id").values_list("id", flat=True))
    with bulk_load(INTERACTION_TABLES, start=start):
        _execute(
            _INTERACTIONS,
            {
                "start": start,
                "stop": stop,
                "people": people,
                "organizations": organizations,
                **_other_people(people),
                "bench_person_id": BENCH_PERSON + 1,
                "bench_interactions": BENCH_PERSON_INTERACTIONS,
                "channels": list(INTERACTION_CHANNELS),
                "subjects": list(SUBJECTS),
                "texts": list(TEXTS),
                "staff_id": staff.first(),
                "units": units,
            },
        )


# --- Scenarios ---------------------------------------------------------------------------------


def bench_person() -> Person:
    """The person with 50 interactions, found by their document (DNI of number 0)."""
    kind, number = document_for(BENCH_PERSON)
    return Person.objects.get(document_type=kind, document_number=number)


def search_urls() -> list[str]:
    """The list filtered by a text and two facets: its first pages, each with the cursor the
    page before gives, as the list view itself pages (a person clicking "next")."""
    from django.test import RequestFactory

    from citizens.filters import PersonFilter
    from citizens.views import directory

    urls, cursor = [], None
    for _page in range(SEARCH_PAGES):
        query = {**SEARCH, **({"cursor": cursor} if cursor else {})}
        urls.append(f"/citizens/?{urlencode(query)}")
        request = RequestFactory().get("/citizens/", query)
        filterset = PersonFilter(request.GET, queryset=Person.objects.in_use(), request=request)
        if not filterset.is_valid():
            raise RuntimeError(f"The bench search is not valid: {filterset.errors}")
        cursor = directory._page(filterset, request).next_cursor
        if cursor is None:
            break
    return urls


def deep_page_urls(page_number: int = DEEP_PAGE, pages: int = 10) -> list[str]:
    """Page ``page_number`` of the whole list (and the pages after it) by name, through the
    cursor a reader clicking "next" would have there: the values of the last row of the page
    before, read once here with OFFSET (the page itself never uses one). On a data set with
    fewer pages, the last page."""
    from citizens.filters import DEFAULT_ORDER, ORDERINGS
    from citizens.views.directory import PER_PAGE
    from crm.pagination import encode_cursor

    ordering = ORDERINGS["citizens.person"][DEFAULT_ORDER]
    fields = [field.lstrip("-") for field in ordering]
    people = Person.objects.in_use().order_by(*ordering)
    total = people.count()
    last_page = max(1, -(-total // PER_PAGE))
    first = min(page_number, max(1, last_page - pages + 1))
    numbers = range(first, min(first + pages, last_page + 1))
    urls = ["/citizens/"] if first == 1 else []
    # The last rows of the pages before them, in one read: rows (number - 1) * PER_PAGE - 1.
    start = max((first - 1) * PER_PAGE - 1, 0)
    rows = list(people.values_list(*fields)[start : (numbers[-1] - 1) * PER_PAGE])
    for number in numbers:
        if number > 1:
            values = rows[(number - 1) * PER_PAGE - 1 - start]
            urls.append(f"/citizens/?{urlencode({'cursor': encode_cursor(list(values))})}")
    return urls


def person_360_urls() -> list[str]:
    return [f"/citizens/people/{bench_person().pk}/"]


def caller_lookup_urls(count: int = 100) -> list[str]:
    """Mobiles of people spread over the register, each of one person only (duplicates and
    their originals share one: left out), typed in the ways people type them."""
    people = count_people()
    candidates = []
    for step in range(count * 2):
        n = people * step // (count * 2)
        if is_duplicate(n) or is_duplicate(n + 1):
            continue
        mobile = mobile_for(n)
        if mobile:
            candidates.append(mobile)
    from citizens.models import PhoneNumber

    present = set(
        PhoneNumber.objects.filter(number__in=candidates).values_list("number", flat=True)
    )
    numbers = [number for number in candidates if number in present][:count]
    if not numbers:
        raise RuntimeError("No bench person has a mobile: build the people first.")
    formats = (
        lambda e164: e164[3:],  # 600123456
        lambda e164: f"{e164[3:6]} {e164[6:8]} {e164[8:10]} {e164[10:]}",  # 600 12 34 56
        lambda e164: e164,  # +34600123456
    )
    return [
        f"/citizens/lookup/?{urlencode({'phone': formats[index % 3](number)})}"
        for index, number in enumerate(numbers)
    ]


scenario(
    "people list search",
    description=(
        "The list of people filtered by a text and two facets (q=garcia, municipality=Sevilla, "
        "tag=voluntariado): its first pages through their keyset cursors; every page should "
        "run the same queries."
    ),
    urls=search_urls,
    user=BENCH_USER,
    requests=300,
    target_p95_ms=50,
)

scenario(
    "people list page 10000",
    description=(
        "Pages 10,000 to 10,009 of the whole list of people by name (keyset cursor: no OFFSET, "
        "no COUNT)."
    ),
    urls=deep_page_urls,
    user=BENCH_USER,
    target_p95_ms=30,
)

scenario(
    "person 360",
    description=(
        "The 360° page of the bench person: contacts, relationships, team, consents, custom "
        "fields and the first page of 50 interactions; each view writes the audit trail."
    ),
    urls=person_360_urls,
    user=BENCH_USER,
    target_p95_ms=60,
    max_queries=15,
)

scenario(
    "caller lookup",
    description=(
        "An incoming call's number (100 mobiles of one person each, in three formats): a "
        "redirect to the caller's 360° page."
    ),
    urls=caller_lookup_urls,
    user=BENCH_USER,
    requests=300,
    expected_status=302,
    target_p95_ms=20,
)


# --- Timed jobs: the import and the duplicate scan ---------------------------------------------

IMPORT_HEADERS = [
    "Nombre",
    "Apellido 1",
    "Apellido 2",
    "DNI/NIE",
    "Correo electrónico",
    "Teléfono",
    "Dirección",
    "Código postal",
    "Municipio",
    "Provincia",
    "Etiquetas",
]
IMPORT_MAPPING = [
    "given_name",
    "first_surname",
    "second_surname",
    "document_number",
    "email",
    "phone",
    "street",
    "postcode",
    "municipality",
    "province",
    "tags",
]
NEW_PEOPLE_FROM = 20_000_000  # the numbers of imported new people: documents nobody has yet


def import_rows(rows: int, people: int) -> Iterator[list[str]]:
    """The rows of the bench import file, against ``people`` bench people: two in ten are
    people already registered, found by their DNI (with a new email: an update); one in ten
    found by their email alone (with a new mobile); one in fifty has a wrong DNI check letter
    (rejected); the rest are new people."""
    existing = {}
    by_document, by_email = {}, {}
    for k in range(rows):
        kind = k % 10
        if people and kind in (0, 1):
            by_document[k] = _registered(k * 7_919 + 13, people)
        elif people and kind == 2:
            by_email[k] = _registered(k * 104_729 + 7, people)
    wanted = set(by_document.values()) | set(by_email.values())
    for row in Person.objects.filter(pk__in=[n + 1 for n in wanted]).values(
        "id", "given_name", "first_surname", "second_surname"
    ):
        existing[row["id"] - 1] = row
    emails = dict(
        EmailAddress.objects.filter(
            person_id__in=[n + 1 for n in by_email.values()], is_primary=True
        ).values_list("person_id", "address")
    )
    female, male, surnames = FEMALE_NAMES, MALE_NAMES, _weighted(SURNAMES)
    for k in range(rows):
        place = MUNICIPALITIES[k % len(MUNICIPALITIES)]
        address = [f"{STREETS[k % len(STREETS)]}", f"{place[2] + k % place[3]:05d}", *place[:2]]
        if k in by_document and by_document[k] in existing:
            n = by_document[k]
            person = existing[n]
            yield [
                person["given_name"],
                person["first_surname"],
                person["second_surname"],
                document_for(n)[1],
                f"nuevo.{n}@correo.example",
                "",
                *address,
                "vecindario",
            ]
        elif k in by_email and (by_email[k] + 1) in emails:
            n = by_email[k]
            person = existing[n]
            yield [
                person["given_name"],
                person["first_surname"],
                "",
                "",
                emails[n + 1],
                new_mobile(NEW_PEOPLE_FROM + k),
                *address,
                "",
            ]
        else:
            n = NEW_PEOPLE_FROM + k
            names = female if k % 2 else male
            given = names[(k // 2) % len(names)]
            first, second = surnames[k * 7 % len(surnames)], surnames[k * 13 % len(surnames)]
            document = dni_for(n)
            if k % 50 == 3:  # a typo in the check letter
                document = document[:-1] + ("A" if document[-1] != "A" else "B")
            yield [
                given,
                first,
                second,
                document,
                f"{_slug(given)}.{_slug(first)}.{n}@correo.example",
                new_mobile(n)[3:],
                *address,
                "boletin" if k % 4 == 0 else "",
            ]


def _registered(seed: int, people: int) -> int:
    """A registered person with a DNI, not a duplicate nor the original of one."""
    n = seed % people
    for _step in range(people):
        kind, _number = document_for(n)
        if kind == "dni" and not is_duplicate(n + 1) and n != BENCH_PERSON:
            return n
        n = (n + 1) % people
    return n


def _import_job(status: str):
    """An import of ``IMPORT_ROWS`` people (a tenth of the register, at most 100,000), its CSV
    file written in the private storage, ready for ``status``. Not timed."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from citizens.models import ImportJob, ImportKind

    people = count_people()
    if not people:
        raise SkipJob("no people in the bench database")
    rows = max(100, min(IMPORT_ROWS, people // 10))
    user = get_user_model().objects.get(username=BENCH_USER)
    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as folder:
        path = Path(folder) / "personas.csv"
        with path.open("w", encoding="utf-8", newline="") as output:
            writer = csv.writer(output, delimiter=";")
            writer.writerow(IMPORT_HEADERS)
            writer.writerows(import_rows(rows, people))
        job = ImportJob(
            kind=ImportKind.PERSON,
            original_name="personas.csv",
            file_format=ImportJob.Format.CSV,
            encoding="utf-8",
            delimiter=";",
            headers=IMPORT_HEADERS,
            column_mapping=IMPORT_MAPPING,
            status=status,
            total_rows=rows,
            batch_size=settings.IMPORT_BATCH_SIZE,
            created_by=user,
        )
        with path.open("rb") as source:
            job.file.save("personas.csv", File(source), save=False)
    job.save()
    return job, rows, people


def _imports_module():
    try:
        from citizens import imports
    except ModuleNotFoundError as error:
        if error.name != "citizens.imports":
            raise
        raise SkipJob("citizens.imports does not exist yet") from None
    for name in ("run", "dry_run"):
        if not hasattr(imports, name):
            raise SkipJob(f"citizens.imports.{name} does not exist yet")
    return imports


@job(
    "people import check",
    description=(
        "The check (dry run) of a file of 100,000 people against the register: every row "
        "read, validated and matched (document, email, phone), nothing written."
    ),
    target_seconds=60,
)
def import_check(timer: JobTimer) -> dict[str, Any]:
    imports = _imports_module()
    import_job, rows, people = _import_job(status="validating")
    try:
        with timer:
            imports.dry_run(import_job.pk)
        import_job.refresh_from_db()
        counts = (import_job.dry_run or {}).get("counts", {})
        return {"rows": rows, "against people": people, **counts}
    finally:
        import_job.file.delete(save=False)


@job(
    "people import",
    description=(
        "The import of a file of 100,000 people against the register, batch after batch "
        "(validation, matching, writes, one audit event a batch); rolled back afterwards."
    ),
    target_seconds=60,
)
def import_people(timer: JobTimer) -> dict[str, Any]:
    imports = _imports_module()
    import_job, rows, people = _import_job(status="queued")
    try:
        with timer:
            done = imports.run(import_job.pk, token="bench")  # noqa: S106 (a claim, no secret)
        if done is None:
            raise RuntimeError("The import did not run (its claim failed).")
        return {
            "rows": rows,
            "against people": people,
            "created": done.created_count,
            "updated": done.updated_count,
            "unchanged": done.skipped_count,
            "rejected": done.rejected_count,
        }
    finally:
        import_job.file.delete(save=False)


@job(
    "duplicate scan",
    description=(
        "citizens.dedupe.find_duplicates() over the whole register (one person in a hundred is "
        "registered twice); rolled back afterwards."
    ),
    target_seconds=60,
)
def duplicate_scan(timer: JobTimer) -> dict[str, Any]:
    from importlib import import_module

    try:
        dedupe = import_module("citizens.dedupe")
    except ModuleNotFoundError as error:
        if error.name != "citizens.dedupe":
            raise
        raise SkipJob("citizens.dedupe does not exist yet") from None
    find_duplicates = getattr(dedupe, "find_duplicates", None)
    if find_duplicates is None:
        raise SkipJob("citizens.dedupe.find_duplicates does not exist yet")
    with timer:
        found = find_duplicates()
        if isinstance(found, Iterator):
            found = list(found)
    details: dict[str, Any] = {"people": count_people()}
    if isinstance(found, int):
        details["found"] = found
    elif found is not None and hasattr(found, "__len__"):
        details["found"] = len(found)
    return details
