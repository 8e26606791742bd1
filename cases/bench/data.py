"""The cases module's bench data (docs/benchmarks.md, "Cases").

**Data.** 200,000 cases filed over three years up to the day the data set was first built (its
*anchor*, kept in the table ``bench_cases_anchor`` so that a run resumed later builds the same
rows), by PostgreSQL itself (``INSERT ... SELECT ... FROM generate_series``) like the citizens'
data: every value of case ``n`` is a function of ``n`` (picks by ``hashint8extended(n, seed)``).
Case ``n`` has the id ``n + 1`` and is filed ``n`` steps after the start of the three years, so
registry numbers, given per series and year in filing order on top of the counters
(``crm.RegistryCounter``, updated in the same transaction), follow the filing times and leave no
gap. Types, subject areas (hence units), channels and citizens (among the bench's people, with
their name, document, email, phone and address as the filer's record) are weighted picks; the
status depends on the age: most cases of the last two weeks are open, most older ones answered
or closed, a few forgotten ones overdue. Official times, due dates and the day the traffic light
turns amber come from ``crm.calendar.BusinessCalendar`` (computed in Python once per day of the
three years, joined in SQL). Each case gets its history (filed, assigned, started, the answer,
closed...), and the cases waiting for the citizen an open suspension.

Twelve units (a tree under ``bench-ayuntamiento``) handle the catalogue's subject areas, each
with three case handlers ``cases-<unit>-1..3`` (the first is the unit's head).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection

from cases.models import CITIZEN_REPLY_DAYS, CaseType, Hearing, SubjectArea
from citizens.bench import STREETS, bulk_load, count_organizations, count_people, restore_indexes
from crm.bench import BENCH_PASSWORD, generator
from crm.calendar import DUE_SOON_DAYS, BusinessCalendar

DEFAULT_CASES = 200_000
SPAN = timedelta(days=3 * 365)  # the default data set's filings are spread over three years
STEP_SECONDS = SPAN.total_seconds() / DEFAULT_CASES  # between two filings (about 8 minutes)

CASE_TABLES = ("cases_case", "cases_caseentry", "cases_casesuspension")
_ANCHOR = "bench_cases_anchor"

# code, name, parent code (a tree, as a town hall's).
BENCH_UNITS = (
    ("bench-ayuntamiento", "Ayuntamiento", None),
    ("bench-atencion", "Oficina de Atención Ciudadana", "bench-ayuntamiento"),
    ("bench-urbanismo", "Urbanismo", "bench-ayuntamiento"),
    ("bench-licencias", "Licencias", "bench-urbanismo"),
    ("bench-disciplina", "Disciplina Urbanística", "bench-urbanismo"),
    ("bench-via-publica", "Vía Pública y Alumbrado", "bench-ayuntamiento"),
    ("bench-medio-ambiente", "Medio Ambiente", "bench-ayuntamiento"),
    ("bench-limpieza", "Limpieza Viaria", "bench-medio-ambiente"),
    ("bench-movilidad", "Movilidad y Tráfico", "bench-ayuntamiento"),
    ("bench-servicios-sociales", "Servicios Sociales", "bench-ayuntamiento"),
    ("bench-cultura", "Cultura y Deportes", "bench-ayuntamiento"),
    ("bench-hacienda", "Hacienda", "bench-ayuntamiento"),
    ("bench-policia", "Policía Local", "bench-ayuntamiento"),
)
HANDLERS_PER_UNIT = 3
# Subject area (as migration 0003 names them) -> (unit code, weight in hundredths).
AREAS = {
    "Atención a la ciudadanía": ("bench-atencion", 8),
    "Urbanismo y vivienda": ("bench-licencias", 10),
    "Vía pública y alumbrado": ("bench-via-publica", 22),
    "Limpieza y medio ambiente": ("bench-limpieza", 20),
    "Tráfico y movilidad": ("bench-movilidad", 12),
    "Servicios sociales": ("bench-servicios-sociales", 8),
    "Cultura, deportes y juventud": ("bench-cultura", 5),
    "Hacienda y tributos": ("bench-hacienda", 6),
    "Seguridad ciudadana": ("bench-policia", 6),
    "Otros asuntos": ("bench-disciplina", 3),
}
# Case type code (migration 0003) -> weight in hundredths.
TYPES = {
    "queja": 35,
    "sugerencia": 12,
    "solicitud-informacion": 15,
    "felicitacion": 4,
    "aviso": 28,
    "alegacion": 2,
    "propuesta": 4,
}
CHANNELS = (
    ("web_form", 55), ("email", 14), ("in_person", 13), ("phone", 10), ("letter", 5), ("social", 3),
)  # fmt: skip
SUBJECTS = {
    "complaint": (
        "Farola apagada desde hace días", "Ruido nocturno de un local", "Contenedores sin vaciar",
        "Retraso en una licencia", "Mala atención en la oficina", "Acera levantada",
        "Excrementos en el parque", "Obras sin señalizar", "Autobús que no respeta el horario",
        "Cobro indebido de una tasa",
    ),
    "suggestion": (
        "Más bancos en el paseo", "Carril bici en la avenida", "Horario de tarde en la biblioteca",
        "Cita previa por teléfono", "Fuentes en los parques infantiles",
    ),
    "information": (
        "Estado de mi expediente", "Requisitos de la ayuda al alquiler", "Plazos del padrón",
        "Documentación para una licencia de obra menor", "Plazas en la escuela infantil",
    ),
    "compliment": ("Buena atención en la OAC", "Rapidez en la reparación", "Gracias a la policía"),
    "alert": (
        "Bache en la calzada", "Semáforo averiado", "Árbol caído", "Fuga de agua en la calle",
        "Señal de tráfico derribada", "Papeleras rotas", "Vertido de escombros",
    ),
    "hearing": ("Aportación al proyecto normativo", "Alegación al borrador"),
    "proposal": ("Huertos urbanos", "Mercado de productores locales", "Zona para perros"),
}  # fmt: skip
TEXTS = (
    "Les escribo porque el problema continúa y nadie lo ha resuelto todavía.",
    "Ruego que se revise cuanto antes, porque afecta a muchos vecinos del barrio.",
    "Adjunto la descripción del lugar; si necesitan más datos, pueden llamarme.",
    "Es la segunda vez que lo comunico. Espero una respuesta en el plazo legal.",
    "Agradecería que me informaran de los pasos a seguir y de los plazos.",
)
ANSWERS = (
    "Le informamos de que el servicio ha resuelto la incidencia. Gracias por avisarnos.",
    "Hemos trasladado su escrito al servicio competente, que ha tomado las medidas oportunas.",
    "Le adjuntamos la información solicitada. Quedamos a su disposición.",
    "Agradecemos su sugerencia, que estudiaremos para el próximo ejercicio.",
)
HEARINGS = (
    ("Ordenanza de terrazas", 400, 370),
    ("Plan de movilidad urbana", 200, 160),
    ("Reglamento de participación ciudadana", 20, -20),
)  # (title, opened days before the anchor, closed days before the anchor)

# The case handler the scenarios log in as (head of Vía Pública).
BENCH_HANDLER = "cases-bench-via-publica-1"


def handler_username(unit_code: str, k: int) -> str:
    return f"cases-{unit_code}-{k}"


def _weighted(items) -> list[Any]:
    return [item for item, weight in items for _ in range(weight)]


def _execute(sql: str, params: Any = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _fetch_value(sql: str, params: Any = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


# --- Reference data: units, handlers, subject areas, hearings ------------------------------------


def reference_data() -> dict[str, Any]:
    """The units, their handlers, the subject areas' routing and the hearings (idempotent)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from crm.models import Membership, Unit, User
    from crm.roles import sync_roles

    sync_roles()
    units: dict[str, Unit] = {}
    for code, name, parent in BENCH_UNITS:
        units[code], _created = Unit.objects.get_or_create(
            code=code, defaults={"name": name, "parent": units.get(parent)}
        )
    group = Group.objects.get(name="case_handler")
    password = None
    handlers: dict[str, list[int]] = {}
    for code, _name, parent in BENCH_UNITS:
        if parent is None:
            continue
        for k in range(1, HANDLERS_PER_UNIT + 1):
            username = handler_username(code, k)
            user = User.objects.filter(username=username).first()
            if user is None:
                password = password or make_password(BENCH_PASSWORD)
                user = User.objects.create(
                    username=username,
                    password=password,
                    first_name=f"Tramitador {k}",
                    last_name=units[code].name,
                    email=f"{username}@bench.example",
                )
                user.groups.add(group)
                Membership.objects.create(user=user, unit=units[code], is_head=k == 1)
            handlers.setdefault(code, []).append(user.pk)
    areas = {area.name: area for area in SubjectArea.objects.all()}
    for name, (code, _weight) in AREAS.items():
        if name in areas and areas[name].unit_id is None:
            SubjectArea.objects.filter(pk=areas[name].pk).update(unit=units[code])
            areas[name].unit_id = units[code].pk
    types = {case_type.code: case_type for case_type in CaseType.objects.all()}
    return {"units": units, "handlers": handlers, "areas": areas, "types": types}


def anchor() -> datetime:
    """The moment the data set's three years end: when its first case was made (kept)."""
    _execute(f"CREATE TABLE IF NOT EXISTS {_ANCHOR} (anchor timestamptz NOT NULL)")
    value = _fetch_value(f"SELECT anchor FROM {_ANCHOR}")  # noqa: S608 (our own name)
    if value is None:
        value = _fetch_value(
            f"INSERT INTO {_ANCHOR} (anchor) "  # noqa: S608 (our own name)
            "VALUES (date_trunc('minute', now())) RETURNING anchor"
        )
    return value


def filed_at(n: int, at: datetime) -> datetime:
    """When case ``n`` was filed (without the few seconds of jitter the SQL adds)."""
    return at - SPAN + timedelta(seconds=n * STEP_SECONDS)


# --- Days: official filing dates, due dates, the amber day -----------------------------------


def _calendar_rows(first: date, last: date, terms: set[int]) -> list[tuple]:
    """For each day: the official filing date of a filing made that day, and for each term the
    due date and the day it turns amber; the citizen's reply term from that day; the number of
    business days from ``first`` up to that day (the business days taken to answer are the
    difference of two of them)."""
    from cases.clock import business_days_before

    calendar = BusinessCalendar(municipalities=())
    rows = []
    day = first
    ordinal = 0
    while day <= last:
        official = day if calendar.is_business_day(day) else calendar.next_business_day(day)
        reply = calendar.add_business_days(day, CITIZEN_REPLY_DAYS)
        ordinal += calendar.is_business_day(day)
        for days in sorted(terms):
            due = calendar.deadline(official, days)
            soon = business_days_before(calendar, due, DUE_SOON_DAYS)
            rows.append((day, official, days, due, soon, reply, ordinal))
        day += timedelta(days=1)
    return rows


_DAYS_TABLE = """
DROP TABLE IF EXISTS bench_case_days;
CREATE TEMP TABLE bench_case_days (
    day date, official date, days int, due date, soon date, reply date, ordinal int,
    PRIMARY KEY (day, days)
);
"""

_LOOKUPS = """
DROP TABLE IF EXISTS bench_case_types, bench_case_areas, bench_case_handlers, bench_case_texts;
CREATE TEMP TABLE bench_case_types AS
SELECT * FROM unnest(%(type_ids)s::bigint[], %(type_series)s::text[], %(type_days)s::int[],
    %(type_kinds)s::text[]) WITH ORDINALITY AS t(id, series, days, kind, i);
CREATE TEMP TABLE bench_case_areas AS
SELECT * FROM unnest(%(area_ids)s::bigint[], %(area_units)s::bigint[])
    WITH ORDINALITY AS t(id, unit_id, i);
CREATE TEMP TABLE bench_case_handlers AS
SELECT * FROM unnest(%(handler_units)s::bigint[], %(handler_ks)s::int[],
    %(handler_ids)s::bigint[]) AS t(unit_id, k, user_id);
CREATE TEMP TABLE bench_case_texts AS
SELECT * FROM unnest(%(subject_kinds)s::text[], %(subject_is)s::int[], %(subjects)s::text[])
    AS t(kind, i, subject);
ANALYZE bench_case_types, bench_case_areas, bench_case_handlers, bench_case_texts;
"""

# One row per case of the chunk, with everything derived from n; the inserts below read it.
_CHUNK = """
DROP TABLE IF EXISTS bench_cases_chunk;
CREATE TEMP TABLE bench_cases_chunk AS
WITH base AS (
    SELECT
        n,
        %(origin)s::timestamptz + make_interval(
            secs => n * %(step)s + mod(hashint8extended(n, 40) & 2147483647, %(step_ms)s) / 1000.0
        ) AS filed_at,
        hashint8extended(n, 41) & 2147483647 AS h_type,
        hashint8extended(n, 42) & 2147483647 AS h_area,
        hashint8extended(n, 43) & 2147483647 AS h_status,
        hashint8extended(n, 44) & 2147483647 AS h_person,
        hashint8extended(n, 45) & 2147483647 AS h_misc,
        hashint8extended(n, 46) & 2147483647 AS h_time
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS n
), aged AS (
    SELECT
        base.*,
        (filed_at AT TIME ZONE %(tz)s)::date AS local_day,
        extract(epoch FROM %(anchor)s::timestamptz - filed_at) / 86400 AS age,
        mod(h_status, 100) AS p
    FROM base
), picked AS (
    SELECT
        aged.*,
        t.id AS case_type_id, t.series, t.days AS deadline_days, t.kind,
        a.id AS subject_area_id, a.unit_id,
        CASE
            WHEN age < 14 THEN CASE WHEN p < 18 THEN 'received' WHEN p < 38 THEN 'assigned'
                WHEN p < 66 THEN 'in_progress' WHEN p < 78 THEN 'waiting'
                WHEN p < 95 THEN 'answered' WHEN p < 97 THEN 'rejected'
                WHEN p < 99 THEN 'duplicate' ELSE 'forwarded' END
            WHEN age < 30 THEN CASE WHEN p < 5 THEN 'received' WHEN p < 15 THEN 'assigned'
                WHEN p < 40 THEN 'in_progress' WHEN p < 90 THEN 'answered'
                WHEN p < 95 THEN 'closed' WHEN p < 97 THEN 'rejected'
                WHEN p < 99 THEN 'duplicate' ELSE 'forwarded' END
            WHEN age < 90 THEN CASE WHEN p < 2 THEN 'assigned' WHEN p < 8 THEN 'in_progress'
                WHEN p < 60 THEN 'answered' WHEN p < 94 THEN 'closed'
                WHEN p < 97 THEN 'rejected' WHEN p < 99 THEN 'duplicate' ELSE 'forwarded' END
            ELSE CASE WHEN p < 1 THEN 'in_progress' WHEN p < 12 THEN 'answered'
                WHEN p < 94 THEN 'closed' WHEN p < 97 THEN 'rejected'
                WHEN p < 99 THEN 'duplicate' ELSE 'forwarded' END
        END AS status,
        /*CHANNEL*/ AS channel,
        CASE WHEN %(people)s > 0 THEN 1 + mod(h_person, %(people)s) END AS person_id,
        CASE WHEN %(organizations)s > 0 AND mod(h_person / 1000, 100) < 6
            THEN 1 + mod(h_person / 7, %(organizations)s) END AS organization_id
    FROM aged
    JOIN bench_case_types t ON t.i = 1 + mod(h_type, %(types)s)
    JOIN bench_case_areas a ON a.i = 1 + mod(h_area, %(areas)s)
), timed AS (
    SELECT
        picked.*,
        d.official AS official_day,
        CASE WHEN d.official = local_day THEN filed_at
            ELSE d.official::timestamp AT TIME ZONE %(tz)s END AS official_filed_at,
        d.due, d.soon,
        GREATEST(d.official, %(anchor_day)s::date - 1 - mod(h_misc, 4)::int) AS asked_on,
        -- the steps of the history: routed 2 hours after the filing, started a day after,
        -- answered 1 to 19 days after (never after the anchor), closed 3 days after that
        LEAST(filed_at + interval '2 hours', %(anchor)s::timestamptz) AS assigned_at,
        LEAST(filed_at + interval '1 day', %(anchor)s::timestamptz) AS started_at
    FROM picked
    JOIN bench_case_days d ON d.day = local_day AND d.days = picked.deadline_days
), stepped AS (
    SELECT
        timed.*,
        GREATEST(started_at + interval '1 minute', LEAST(
            filed_at + make_interval(
                days => 1 + mod(h_time, 19)::int, hours => mod(h_time, 7)::int
            ),
            %(anchor)s::timestamptz - interval '1 hour'
        )) AS answered_at,
        GREATEST(started_at + interval '1 minute',
            asked_on::timestamp AT TIME ZONE %(tz)s + interval '10 hours') AS asked_at
    FROM timed
)
SELECT
    stepped.*,
    GREATEST(answered_at, LEAST(answered_at + interval '3 days', %(anchor)s::timestamptz))
        AS closed_at,
    n + 1 AS id,
    CASE WHEN status <> 'received' THEN h.user_id END AS assignee_id,
    r.reply AS reply_due_date,
    s.subject,
    (%(texts)s::text[])[1 + mod(h_misc, %(text_count)s)] AS text,
    (%(answers)s::text[])[1 + mod(h_misc / 10, %(answer_count)s)] AS answer,
    extract(year FROM filed_at AT TIME ZONE %(tz)s)::int AS year,
    jsonb_build_object(
        'given_name', coalesce(p.given_name, 'Vecino'),
        'first_surname', coalesce(p.first_surname, ''),
        'second_surname', coalesce(p.second_surname, ''),
        'document_type', coalesce(p.document_type, ''),
        'document_number', coalesce(p.document_number, ''),
        'email', coalesce(e.address, ''),
        'phone', coalesce(ph.number, ''),
        'street', coalesce(ad.street, ''),
        'street_number', coalesce(ad.number, ''),
        'postcode', coalesce(ad.postcode, ''),
        'municipality', coalesce(ad.municipality, ''),
        'province', coalesce(ad.province, ''),
        'country', 'ES',
        'organization_tax_id', coalesce(o.tax_id, ''),
        'organization_name', coalesce(o.name, '')
    ) AS filer
FROM stepped
JOIN bench_case_texts s ON s.kind = stepped.kind
    AND s.i = 1 + mod(h_misc / 100, %(subject_count)s)
LEFT JOIN bench_case_handlers h ON h.unit_id = stepped.unit_id AND h.k = 1 + mod(h_misc, 3)
LEFT JOIN bench_case_days r ON r.day = stepped.asked_on AND r.days = stepped.deadline_days
LEFT JOIN citizens_person p ON p.id = stepped.person_id
LEFT JOIN citizens_organization o ON o.id = stepped.organization_id
LEFT JOIN LATERAL (
    SELECT address FROM citizens_emailaddress WHERE person_id = p.id
    ORDER BY is_primary DESC, id LIMIT 1
) e ON true
LEFT JOIN LATERAL (
    SELECT number FROM citizens_phonenumber WHERE person_id = p.id
    ORDER BY is_primary DESC, id LIMIT 1
) ph ON true
LEFT JOIN LATERAL (
    SELECT street, number, postcode, municipality, province FROM citizens_postaladdress
    WHERE person_id = p.id ORDER BY is_notification DESC, id LIMIT 1
) ad ON true;
"""

_INSERTS = """
INSERT INTO cases_case (
    id, registry_number, filed_at, official_filed_at, channel, tracking_nonce, case_type_id,
    subject_area_id, person_id, organization_id, filer, subject, text, language, place_address,
    latitude, longitude, hearing_id, status, unit_id, assignee_id, registered_by_id,
    duplicate_of_id, forwarded_to, deadline_days, due_date, due_soon_from, reply_due_date,
    public_answer, answered_at, closed_at, receipt_id, answer_document_id, receipt_emailed_at,
    updated_at, answer_days, answered_on_time
)
SELECT
    c.id,
    c.series || '-' || c.year || '-' || lpad((coalesce(rc.last_number, 0)
        + row_number() OVER (PARTITION BY c.series, c.year ORDER BY c.n))::text, 6, '0'),
    c.filed_at, c.official_filed_at, c.channel, md5('bench-case-' || c.n), c.case_type_id,
    c.subject_area_id, c.person_id, c.organization_id, c.filer, c.subject, c.text, 'es',
    CASE WHEN c.kind = 'alert' THEN (%(streets)s::text[])[1 + mod(c.h_misc, %(street_count)s)]
        || ', ' || (1 + mod(c.h_time, 80)) ELSE '' END,
    CASE WHEN c.kind = 'alert' THEN round(40.40 + mod(c.h_time, 1000) / 10000.0, 6) END,
    CASE WHEN c.kind = 'alert' THEN round(-3.75 + mod(c.h_misc, 1000) / 10000.0, 6) END,
    CASE WHEN c.kind = 'hearing' THEN (%(hearings)s::bigint[])[1 + mod(c.h_misc, %(hearing_count)s)]
        END,
    c.status, c.unit_id, c.assignee_id,
    CASE WHEN c.channel <> 'web_form' THEN %(desk_id)s::bigint END,
    CASE WHEN c.status = 'duplicate' AND c.n > 0 THEN c.id - 1 END,
    CASE WHEN c.status = 'forwarded' THEN 'Jefatura Provincial de Tráfico' ELSE '' END,
    c.deadline_days,
    CASE WHEN c.status <> 'waiting' THEN c.due END,
    CASE WHEN c.status <> 'waiting' THEN c.soon END,
    CASE WHEN c.status = 'waiting' THEN c.reply_due_date END,
    CASE WHEN c.status IN ('answered', 'closed') THEN c.answer ELSE '' END,
    CASE WHEN c.status IN ('answered', 'closed') THEN c.answered_at END,
    CASE WHEN c.status = 'closed' THEN c.closed_at
        WHEN c.status IN ('rejected', 'duplicate', 'forwarded') THEN c.answered_at END,
    NULL, NULL,
    c.filed_at + interval '30 seconds',
    CASE WHEN c.status IN ('received', 'assigned', 'in_progress', 'waiting') THEN c.filed_at
        WHEN c.status = 'closed' THEN c.closed_at ELSE c.answered_at END,
    -- as cases.services.answer_timing stores them (no suspension before an answer here)
    CASE WHEN c.status IN ('answered', 'closed')
        THEN GREATEST(0, answered_day.ordinal - official_day.ordinal) END,
    CASE WHEN c.status IN ('answered', 'closed') THEN answered_day.day <= c.due END
FROM bench_cases_chunk c
LEFT JOIN crm_registrycounter rc ON rc.series = c.series AND rc.year = c.year
LEFT JOIN bench_case_days official_day
    ON official_day.day = c.official_day AND official_day.days = c.deadline_days
LEFT JOIN bench_case_days answered_day
    ON answered_day.day = (c.answered_at AT TIME ZONE %(tz)s)::date
    AND answered_day.days = c.deadline_days
ORDER BY c.n;

INSERT INTO crm_registrycounter (series, year, last_number)
SELECT series, year, count(*) FROM bench_cases_chunk GROUP BY series, year
ON CONFLICT (series, year)
DO UPDATE SET last_number = crm_registrycounter.last_number + EXCLUDED.last_number;

INSERT INTO cases_casesuspension (case_id, started_on, ended_on, reason)
SELECT id, asked_on, NULL, 'Más información solicitada' FROM bench_cases_chunk
WHERE status = 'waiting' ORDER BY n;

-- The history: filed; routed; started; asked; answered; closed or ended otherwise.
INSERT INTO cases_caseentry (case_id, kind, public, actor_id, text, from_status, to_status,
    created_at)
SELECT id, kind, public, actor_id, text, from_status, to_status, created_at FROM (
    SELECT n, 1 AS step, id, 'filed' AS kind, true AS public,
        CASE WHEN channel <> 'web_form' THEN %(desk_id)s::bigint END AS actor_id, '' AS text,
        '' AS from_status, 'received' AS to_status, filed_at AS created_at
    FROM bench_cases_chunk
    UNION ALL
    SELECT n, 2, id, 'assignment', false, %(desk_id)s::bigint, '', 'received', 'assigned',
        assigned_at
    FROM bench_cases_chunk WHERE assignee_id IS NOT NULL
        AND status NOT IN ('rejected', 'duplicate', 'forwarded')
    UNION ALL
    SELECT n, 3, id, 'status', false, assignee_id, '', 'assigned', 'in_progress',
        started_at
    FROM bench_cases_chunk WHERE status IN ('in_progress', 'waiting', 'answered', 'closed')
    UNION ALL
    SELECT n, 4, id, 'information_request', true, assignee_id,
        'Indíquenos la dirección exacta, por favor.', 'in_progress', 'waiting',
        asked_at
    FROM bench_cases_chunk WHERE status = 'waiting'
    UNION ALL
    SELECT n, 5, id, 'answer', true, assignee_id, answer, 'in_progress', 'answered', answered_at
    FROM bench_cases_chunk WHERE status IN ('answered', 'closed')
    UNION ALL
    SELECT n, 6, id, 'status', false, assignee_id, '', 'answered', 'closed', closed_at
    FROM bench_cases_chunk WHERE status = 'closed'
    UNION ALL
    SELECT n, 7, id, 'status', true, assignee_id, 'Fuera del ámbito de este ayuntamiento.',
        'received', status, answered_at
    FROM bench_cases_chunk WHERE status IN ('rejected', 'duplicate', 'forwarded')
) AS entries
ORDER BY n, step;

DROP TABLE bench_cases_chunk;
"""


def count_cases() -> int:
    """Cases the generator made (their tracking nonce is a function of their number)."""
    return _fetch_value(
        "SELECT count(*) FROM cases_case WHERE tracking_nonce = md5('bench-case-' || (id - 1))"
    )


def _params(start: int, stop: int, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    from crm.models import User

    types = [data["types"][code] for code in TYPES if code in data["types"]]
    type_weights = _weighted((case_type, TYPES[case_type.code]) for case_type in types)
    areas = _weighted(
        (data["areas"][name], weight) for name, (_unit, weight) in AREAS.items()
        if name in data["areas"]
    )  # fmt: skip
    if not type_weights or not areas:
        raise RuntimeError("The case types and subject areas of migration 0003 are missing.")
    handler_units, handler_ks, handler_ids = [], [], []
    for code, ids in data["handlers"].items():
        for k, user_id in enumerate(ids, 1):
            handler_units.append(data["units"][code].pk)
            handler_ks.append(k)
            handler_ids.append(user_id)
    subject_kinds, subject_is, subjects = [], [], []
    longest = max(len(items) for items in SUBJECTS.values())
    for kind, items in SUBJECTS.items():
        for i in range(1, longest + 1):  # every kind the same length: one modulus
            subject_kinds.append(kind)
            subject_is.append(i)
            subjects.append(items[(i - 1) % len(items)])
    hearings = list(Hearing.objects.filter(title__in=[h[0] for h in HEARINGS]).values_list("pk"))
    desk = User.objects.filter(username=handler_username("bench-atencion", 1)).first()
    origin = at - SPAN
    return {
        "start": start,
        "stop": stop,
        "origin": origin,
        "anchor": at,
        "anchor_day": at.astimezone(BusinessCalendar().time_zone).date(),
        "step": STEP_SECONDS,
        "step_ms": max(1, int(STEP_SECONDS * 1000)),
        "tz": str(BusinessCalendar().time_zone),
        "people": count_people(),
        "organizations": count_organizations(),
        "type_ids": [t.pk for t in type_weights],
        "type_series": [t.series for t in type_weights],
        "type_days": [t.deadline_days for t in type_weights],
        "type_kinds": [t.kind for t in type_weights],
        "types": len(type_weights),
        "area_ids": [area.pk for area in areas],
        "area_units": [area.unit_id for area in areas],
        "areas": len(areas),
        "handler_units": handler_units,
        "handler_ks": handler_ks,
        "handler_ids": handler_ids,
        "subject_kinds": subject_kinds,
        "subject_is": subject_is,
        "subjects": subjects,
        "subject_count": longest,
        "texts": list(TEXTS),
        "text_count": len(TEXTS),
        "answers": list(ANSWERS),
        "answer_count": len(ANSWERS),
        "streets": list(STREETS),
        "street_count": len(STREETS),
        "hearings": [pk for (pk,) in hearings] or [None],
        "hearing_count": max(1, len(hearings)),
        "desk_id": desk.pk if desk else None,
        "terms": sorted({t.deadline_days for t in type_weights}),
    }


def _hearings(at: datetime) -> None:
    day = at.date()
    for title, opened, closed in HEARINGS:
        Hearing.objects.get_or_create(
            title=title,
            defaults={
                "opens_on": day - timedelta(days=opened),
                "closes_on": day - timedelta(days=closed),
                "summary": "Proyecto sometido a audiencia pública (datos de banco de pruebas).",
            },
        )


def _channel_sql() -> str:
    cases, upper = [], 0
    for value, weight in CHANNELS:
        upper += weight
        cases.append(f"WHEN mod(h_misc / 1000, 100) < {upper} THEN '{value}'")
    return f"CASE {' '.join(cases)} ELSE 'web_form' END"


def _sync_sequence() -> None:
    _execute(
        "SELECT setval(pg_get_serial_sequence('cases_case', 'id'), "
        "GREATEST((SELECT max(id) FROM cases_case), 1))"
    )


@generator(
    "cases",
    count=count_cases,
    default=DEFAULT_CASES,
    help=(
        "cases (ids 1..N) over three years, with their history and registry numbers, routed to "
        "twelve bench units with three handlers each (made after --people)"
    ),
    chunk=50_000,
    finish=partial(restore_indexes, CASE_TABLES),
)
def create_cases(start: int, stop: int) -> None:
    data = reference_data()
    at = anchor()
    _hearings(at)
    params = _params(start, stop, data, at)
    zone = BusinessCalendar().time_zone
    first = filed_at(start, at).astimezone(zone).date()
    last = (filed_at(stop, at) + timedelta(seconds=STEP_SECONDS)).astimezone(zone).date()
    rows = _calendar_rows(
        first - timedelta(days=1),
        max(last, params["anchor_day"]) + timedelta(days=1),
        set(params["terms"]),
    )
    with bulk_load(CASE_TABLES, start=start):
        _execute(_DAYS_TABLE)
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY bench_case_days (day, official, days, due, soon, reply, ordinal) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        _execute(_LOOKUPS, params)
        _execute(_CHUNK.replace("/*CHANNEL*/", _channel_sql()), params)
        _execute(_INSERTS, params)
    _sync_sequence()
