"""The cases module's demo data (``manage.py seed_demo``, after crm's units and logins): subject
areas routed to the demo units, two public hearings (one open), a few knowledge-base articles,
and about thirty cases across types, channels, units, statuses and every colour of the traffic
light, filed weeks apart and moved along through the services (so that their history, audit
trail, timelines and receipts are what real use leaves). Idempotent: the cases are made once,
recognised by their filers' demo domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction

from citizens.models import Channel
from crm.calendar import BusinessCalendar
from crm.models import Unit, User

from .clock import business_days_before
from .models import Case, CaseType, Hearing, KnowledgeArticle, SubjectArea
from .services import (
    Filer,
    case_answer,
    case_assign,
    case_citizen_reply,
    case_close,
    case_file,
    case_forward,
    case_mark_duplicate,
    case_reject,
    case_request_information,
    case_start,
    case_task_add,
    display_secret,
    tracking_secret,
)

DEMO_DOMAIN = "ciudadania.example"  # RFC 2606: nobody can be written to

# Subject area (as migration 0003 names them) -> the demo unit that handles it.
AREA_UNITS = {
    "Atención a la ciudadanía": "atencion-ciudadana",
    "Urbanismo y vivienda": "licencias",
    "Vía pública y alumbrado": "urbanismo",
    "Limpieza y medio ambiente": "medio-ambiente",
    "Tráfico y movilidad": "urbanismo",
    "Servicios sociales": "servicios-sociales",
}

FILERS = {
    "ana": Filer(
        given_name="Ana", first_surname="Ruiz", second_surname="Gómez", document_type="dni",
        document_number="50123456Q", email=f"ana.ruiz@{DEMO_DOMAIN}", phone="612345678",
        street="Calle Mayor", street_number="3", postcode="28801",
        municipality="Alcalá de Henares", province="Madrid",
    ),
    "jose": Filer(
        given_name="José", first_surname="Martín", second_surname="Pérez", document_type="dni",
        document_number="23456781R", phone="655443322", email=f"jose.martin@{DEMO_DOMAIN}",
    ),
    "lucia": Filer(
        given_name="Lucía", first_surname="Fernández", second_surname="Sanz",
        email=f"lucia.fernandez@{DEMO_DOMAIN}",
    ),
    "pedro": Filer(
        given_name="Pedro", first_surname="Gil", document_type="nie",
        document_number="X1234567L", email=f"pedro.gil@{DEMO_DOMAIN}",
        street="Avenida de la Constitución", street_number="12", postcode="28801",
        municipality="Alcalá de Henares", province="Madrid",
    ),
    "carmen": Filer(
        given_name="Carmen", first_surname="Ortiz", second_surname="Vidal",
        document_type="dni", document_number="71234562C",
        email=f"carmen.ortiz@{DEMO_DOMAIN}", organization_tax_id="H28000008",
        organization_name="Comunidad de Propietarios Calle Mayor 5",
    ),
    "miguel": Filer(
        given_name="Miguel", first_surname="Navas", document_type="dni",
        document_number="09876543K", phone="918887766",
        street="Plaza de Cervantes", street_number="1", postcode="28801",
        municipality="Alcalá de Henares", province="Madrid",
    ),
    "sara": Filer(
        given_name="Sara", first_surname="López", second_surname="Moreno",
        email=f"sara.lopez@{DEMO_DOMAIN}", organization_tax_id="B87654323",
        organization_name="Cafetería La Plaza, S.L.",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class DemoCase:
    type_code: str
    area: str
    filer: str
    channel: str
    subject: str
    text: str
    business_days_ago: int  # filed at 10:00 that many business days before today
    outcome: str  # what happened next (see _move_along)
    place: str = ""


# Terms are 20 business days: filed 2-14 business days ago is on time, 15-20 due soon, more
# overdue (while the clock runs); "waiting" cases are suspended.
DEMO_CASES = (
    DemoCase("queja", "Vía pública y alumbrado", "ana", Channel.WEB_FORM, "Farola apagada",
             "La farola frente al número 3 de la calle Mayor lleva dos semanas apagada y la "
             "acera queda a oscuras.", 32, "closed"),
    DemoCase("aviso", "Vía pública y alumbrado", "miguel", Channel.PHONE, "Bache en la calzada",
             "Hay un bache profundo en la calzada de la plaza de Cervantes, junto al paso de "
             "peatones.", 30, "answered", place="Plaza de Cervantes, 1"),
    DemoCase("queja", "Limpieza y medio ambiente", "jose", Channel.EMAIL,
             "Contenedores sin vaciar", "Los contenedores de la calle Libreros llevan cuatro "
             "días sin vaciarse.", 28, "overdue"),
    DemoCase("queja", "Limpieza y medio ambiente", "lucia", Channel.WEB_FORM,
             "Contenedores sin vaciar (otra vez)", "Vuelvo a escribir: los contenedores de "
             "Libreros siguen llenos.", 27, "duplicate"),
    DemoCase("solicitud-informacion", "Urbanismo y vivienda", "carmen", Channel.WEB_FORM,
             "Licencia de obra de la comunidad", "Queremos saber en qué estado está la licencia "
             "de obra para el ascensor de la comunidad.", 26, "in_progress_overdue"),
    DemoCase("queja", "Tráfico y movilidad", "pedro", Channel.LETTER, "Multa por un vado",
             "Me han multado por aparcar frente a un vado que no tiene placa.", 25, "forwarded"),
    DemoCase("sugerencia", "Servicios sociales", "lucia", Channel.IN_PERSON,
             "Horario del centro de mayores", "Propongo abrir el centro de mayores también los "
             "sábados por la mañana.", 24, "answered"),
    DemoCase("queja", "Atención a la ciudadanía", "jose", Channel.PHONE,
             "Espera en la oficina", "Esperé más de una hora para empadronarme.", 23, "rejected"),
    DemoCase("aviso", "Vía pública y alumbrado", "ana", Channel.SOCIAL, "Árbol caído",
             "Un árbol ha caído sobre la acera de la avenida de la Constitución.", 22,
             "closed", place="Avenida de la Constitución, 12"),
    DemoCase("queja", "Urbanismo y vivienda", "miguel", Channel.IN_PERSON,
             "Obras sin licencia", "En el número 7 de mi calle están haciendo obras sin cartel "
             "de licencia.", 21, "overdue_task"),
    DemoCase("queja", "Vía pública y alumbrado", "sara", Channel.WEB_FORM,
             "Terraza que ocupa la acera", "La terraza de la cafetería vecina ocupa toda la "
             "acera.", 19, "due_soon"),
    DemoCase("queja", "Limpieza y medio ambiente", "pedro", Channel.WEB_FORM,
             "Ruido de la barredora", "La barredora pasa a las cinco de la mañana con mucho "
             "ruido.", 18, "due_soon_assigned"),
    DemoCase("sugerencia", "Tráfico y movilidad", "ana", Channel.WEB_FORM,
             "Carril bici en la Vía Complutense", "Sugiero un carril bici separado en la Vía "
             "Complutense.", 17, "due_soon_in_progress"),
    DemoCase("queja", "Servicios sociales", "carmen", Channel.EMAIL,
             "Ayuda a domicilio sin respuesta", "Solicité la ayuda a domicilio para mi madre "
             "hace meses.", 16, "due_soon"),
    DemoCase("solicitud-informacion", "Urbanismo y vivienda", "jose", Channel.WEB_FORM,
             "Plan de aparcamientos", "¿Cuándo se aprobará el plan de aparcamientos del "
             "centro?", 15, "waiting"),
    DemoCase("felicitacion", "Atención a la ciudadanía", "lucia", Channel.WEB_FORM,
             "Buena atención en la OAC", "Quiero agradecer la amabilidad de la persona que me "
             "atendió en la oficina.", 14, "answered"),
    DemoCase("aviso", "Vía pública y alumbrado", "miguel", Channel.PHONE,
             "Semáforo averiado", "El semáforo del cruce de la calle Mayor con Libreros no "
             "funciona.", 13, "in_progress", place="Calle Mayor con calle Libreros"),
    DemoCase("queja", "Urbanismo y vivienda", "pedro", Channel.WEB_FORM,
             "Retraso en una licencia de actividad", "Mi licencia de actividad lleva tres "
             "meses parada.", 12, "waiting"),
    DemoCase("queja", "Vía pública y alumbrado", "ana", Channel.WEB_FORM,
             "Papeleras rotas en el parque", "Varias papeleras del parque O'Donnell están "
             "rotas.", 11, "replied"),
    DemoCase("propuesta", "Limpieza y medio ambiente", "sara", Channel.WEB_FORM,
             "Huertos urbanos", "Propongo huertos urbanos en el solar de la calle Ronda.", 10,
             "received"),
    DemoCase("queja", "Tráfico y movilidad", "jose", Channel.WEB_FORM, "Autobús que no para",
             "El autobús de la línea 2 no para en la parada de la plaza.", 9, "assigned"),
    DemoCase("solicitud-informacion", "Servicios sociales", "lucia", Channel.PHONE,
             "Plazas en la escuela infantil", "¿Quedan plazas en la escuela infantil "
             "municipal?", 8, "waiting"),
    DemoCase("queja", "Urbanismo y vivienda", "carmen", Channel.WEB_FORM,
             "Humedades del edificio municipal", "Las obras del edificio municipal han causado "
             "humedades en nuestra comunidad.", 7, "in_progress"),
    DemoCase("sugerencia", "Atención a la ciudadanía", "pedro", Channel.WEB_FORM,
             "Cita previa por teléfono", "Sería útil pedir cita previa por teléfono.", 6,
             "received"),
    DemoCase("aviso", "Limpieza y medio ambiente", "ana", Channel.WEB_FORM,
             "Vertido en el río", "Hay un vertido de escombros junto al río, cerca del puente.",
             5, "assigned", place="Ribera del Henares, junto al puente"),
    DemoCase("queja", "Vía pública y alumbrado", "miguel", Channel.LETTER,
             "Acera levantada", "Las raíces han levantado la acera de la calle Ronda.", 4,
             "received"),
    DemoCase("alegacion", "Urbanismo y vivienda", "carmen", Channel.WEB_FORM,
             "Aportación a la ordenanza de terrazas", "Pedimos que la ordenanza limite el "
             "horario de las terrazas a las 23:00.", 3, "hearing"),
    DemoCase("alegacion", "Urbanismo y vivienda", "sara", Channel.WEB_FORM,
             "Aportación de la hostelería", "La hostelería pide mantener el horario de verano "
             "hasta la 1:00.", 2, "hearing"),
    DemoCase("queja", "Servicios sociales", "jose", Channel.WEB_FORM,
             "Comedor social cerrado", "El comedor social estaba cerrado sin aviso.", 2,
             "received"),
    DemoCase("felicitacion", "Vía pública y alumbrado", "lucia", Channel.EMAIL,
             "Arreglo rápido de la farola", "Gracias por arreglar tan rápido la farola.", 1,
             "received"),
)  # fmt: skip

ARTICLES = (
    ("Respuesta general: queja atendida", None,
     "Estimado/a {name}:\n\nEn relación con su escrito {registry_number}, presentado el "
     "{filed_on} sobre «{subject}», le informamos de que el servicio {unit} ha tomado las "
     "medidas oportunas.\n\nAgradecemos su colaboración.\n\n{handler}\n{today}"),
    ("Alumbrado público: avería reparada", "Vía pública y alumbrado",
     "Estimado/a {name}:\n\nLa avería de alumbrado que comunicó ({registry_number}) fue "
     "reparada por la brigada municipal. Si vuelve a producirse, avísenos de nuevo.\n\n"
     "{handler}, {unit}"),
    ("Limpieza viaria: refuerzo del servicio", "Limpieza y medio ambiente",
     "Estimado/a {name}:\n\nHemos trasladado su queja ({registry_number}) a la empresa "
     "concesionaria, que reforzará la recogida en la zona durante las próximas semanas.\n\n"
     "{handler}"),
    ("Licencias: estado de la tramitación", "Urbanismo y vivienda",
     "Estimado/a {name}:\n\nSu consulta {registry_number} sobre «{subject}»: el expediente "
     "está en fase de informe técnico. Le comunicaremos la resolución en cuanto se dicte.\n\n"
     "{handler}, {unit}"),
    ("Agradecimiento por una felicitación", None,
     "Estimado/a {name}:\n\nGracias por su felicitación ({registry_number}). La hemos "
     "trasladado al personal del servicio {unit}.\n\n{today}"),
)  # fmt: skip


def _hearings(today: date, units: dict[str, Unit]) -> list[Hearing]:
    hearings = []
    for title, summary, opens, closes in (
        ("Ordenanza de terrazas y veladores",
         "Proyecto de ordenanza que regula la ocupación de la vía pública por terrazas.",
         today - timedelta(days=10), today + timedelta(days=20)),
        ("Plan de movilidad urbana sostenible",
         "Borrador del plan de movilidad para los próximos diez años.",
         today - timedelta(days=90), today - timedelta(days=30)),
    ):  # fmt: skip
        hearing, _created = Hearing.objects.get_or_create(
            title=title,
            defaults={
                "summary": summary,
                "opens_on": opens,
                "closes_on": closes,
                "unit": units["urbanismo"],
                "document_url": "https://www.ayuntamiento.example/participa/",
            },
        )
        hearings.append(hearing)
    return hearings


def _articles() -> int:
    areas = {area.name: area for area in SubjectArea.objects.all()}
    created = 0
    for title, area, body in ARTICLES:
        _article, was_created = KnowledgeArticle.objects.get_or_create(
            title=title, defaults={"subject_area": areas.get(area), "body": body}
        )
        created += was_created
    return created


def _route_areas(units: dict[str, Unit]) -> None:
    for name, code in AREA_UNITS.items():
        SubjectArea.objects.filter(name=name, unit__isnull=True).update(unit=units[code])


def _move_along(
    case: Case,
    outcome: str,
    *,
    staff: dict[str, User],
    units: dict[str, Unit],
    previous: dict[str, Case],
    calendar: BusinessCalendar,
) -> None:
    """Take the case through the workflow as far as ``outcome`` says."""
    desk, admin, handler = staff["atencion"], staff["admin"], staff["tramitador"]
    # The demo's case handler works in Urbanismo and its sub-units; the administrator stands in
    # for the handlers of the other units.
    ours = case.unit_id in {units[code].pk for code in ("urbanismo", "licencias")}
    worker = handler if ours else admin
    today = calendar.today()
    if outcome in {"received", "hearing", "due_soon", "overdue"}:
        return
    if outcome == "duplicate":
        case_mark_duplicate(case=case, actor=admin, original=previous["Contenedores sin vaciar"])
        return
    if outcome == "rejected":
        case_reject(
            case=case,
            actor=admin,
            reason="La queja no identifica el día ni la oficina; no es posible investigarla.",
        )
        return
    case = case_assign(case=case, actor=desk, unit=case.unit, assignee=worker)
    if outcome in {"assigned", "due_soon_assigned"}:
        return
    if outcome == "forwarded":
        case_forward(
            case=case,
            actor=worker,
            administration="Jefatura Provincial de Tráfico de Madrid",
            note="Las sanciones de tráfico en vías interurbanas corresponden a la DGT.",
        )
        return
    case = case_start(case=case, actor=worker)
    if outcome == "overdue_task":
        case_task_add(
            case=case,
            actor=worker,
            unit=units["disciplina-urbanistica"],
            description="Inspección de las obras y, en su caso, orden de paralización.",
        )
        return
    if outcome in {"in_progress", "in_progress_overdue", "due_soon_in_progress"}:
        return
    if outcome in {"waiting", "replied"}:
        asked = business_days_before(calendar, today, 3)
        case_request_information(
            case=case,
            actor=worker,
            text="Indíquenos, por favor, la dirección exacta y, si puede, adjunte una foto.",
            today=asked,
        )
        if outcome == "replied":
            case_citizen_reply(
                case=case,
                text="Es en la entrada del parque por la calle Ronda; adjunto foto mañana.",
                today=business_days_before(calendar, today, 1),
            )
        return
    case_answer(
        case=case,
        actor=worker,
        text=(
            f"Estimado/a {case.filer.get('given_name', '')}: gracias por su escrito. "
            "El servicio ha revisado lo que nos cuenta y ha tomado las medidas oportunas."
        ),
    )
    if outcome == "closed":
        case_close(case=case, actor=worker)


def _cases(units: dict[str, Unit], hearings: list[Hearing]) -> list[Case]:
    staff = {user.username: user for user in User.objects.filter(username__in=_STAFF)}
    if set(staff) != set(_STAFF):
        return []  # the crm demo logins are missing: nothing to work the cases with
    types = {case_type.code: case_type for case_type in CaseType.objects.all()}
    areas = {area.name: area for area in SubjectArea.objects.all()}
    calendar = BusinessCalendar()
    today = calendar.today()
    previous: dict[str, Case] = {}
    made = []
    # Oldest first, so that registry numbers follow the filing times.
    for number, demo in enumerate(sorted(DEMO_CASES, key=lambda d: -d.business_days_ago)):
        day = business_days_before(calendar, today, demo.business_days_ago)
        area = areas.get(demo.area)
        staff_channel = demo.channel != Channel.WEB_FORM
        at = time(9 + number % 8, 7 * number % 60)
        case = case_file(
            case_type=types[demo.type_code],
            filer=FILERS[demo.filer],
            subject=demo.subject,
            text=demo.text,
            channel=demo.channel,
            subject_area=area,
            place_address=demo.place,
            hearing=hearings[0] if demo.outcome == "hearing" else None,
            actor=staff["atencion"] if staff_channel else None,
            filed_at=datetime.combine(day, at, calendar.time_zone),
        ).case
        previous[demo.subject] = case
        _move_along(
            case, demo.outcome, staff=staff, units=units, previous=previous, calendar=calendar
        )
        made.append(case)
    return made


_STAFF = ("admin", "atencion", "tramitador")


@transaction.atomic
def load() -> list[str]:
    """Create what is missing; return what was created."""
    units = {unit.code: unit for unit in Unit.objects.all()}
    if "urbanismo" not in units:
        return []  # crm's demo units come first (seed_demo loads crm before cases)
    created: list[str] = []
    _route_areas(units)
    hearings_before = Hearing.objects.count()
    hearings = _hearings(BusinessCalendar().today(), units)
    if Hearing.objects.count() > hearings_before:
        created.append(f"{Hearing.objects.count() - hearings_before} hearings")
    if articles := _articles():
        created.append(f"{articles} knowledge-base articles")
    if Case.objects.filter(filer__email__endswith=f"@{DEMO_DOMAIN}").exists():
        return created
    cases = _cases(units, hearings)
    if cases:
        created.append(f"{len(cases)} cases")
        first = cases[0]
        created.append(
            f"tracking of {first.registry_number} with {display_secret(tracking_secret(first))}"
        )
    return created
