"""The starting catalogue: the case types RD 951/2005 and the issue name, and subject areas
most bodies use. Administrators change them in the admin."""

from django.db import migrations

CASE_TYPES = [
    # code, kind, series, Spanish, English, order
    ("queja", "complaint", "QS", "Queja", "Complaint", 10),
    ("sugerencia", "suggestion", "QS", "Sugerencia", "Suggestion", 20),
    ("solicitud-informacion", "information", "SI", "Solicitud de información",
     "Request for information", 30),
    ("felicitacion", "compliment", "QS", "Felicitación", "Compliment", 40),
    ("aviso", "alert", "AV", "Aviso de incidencia", "Incident alert", 50),
    ("alegacion", "hearing", "AP", "Aportación a una audiencia pública",
     "Contribution to a public hearing", 60),
    ("propuesta", "proposal", "PC", "Propuesta ciudadana", "Citizen proposal", 70),
]

DESCRIPTIONS = {
    "queja": "Cuéntenos qué servicio no ha funcionado como debía. Le responderemos en un plazo "
    "de 20 días hábiles.",
    "sugerencia": "Proponga una mejora de nuestros servicios. Le responderemos en un plazo de "
    "20 días hábiles.",
    "solicitud-informacion": "Pida información sobre nuestros servicios y trámites.",
    "felicitacion": "Reconozca el buen trabajo de un servicio o de su personal.",
    "aviso": "Avise de una incidencia en la vía pública (una farola apagada, un bache...) con "
    "el lugar y, si quiere, fotografías.",
    "alegacion": "Participe en los proyectos normativos en audiencia pública antes de su cierre.",
    "propuesta": "Proponga una iniciativa para su municipio.",
}

DESCRIPTIONS_EN = {
    "queja": "Tell us which service did not work as it should. We will answer within 20 "
    "business days.",
    "sugerencia": "Suggest an improvement to our services. We will answer within 20 business days.",
    "solicitud-informacion": "Ask for information about our services and procedures.",
    "felicitacion": "Recognise the good work of a service or its staff.",
    "aviso": "Report an incident in a public space (a street lamp out, a pothole...) with the "
    "place and, if you wish, photos.",
    "alegacion": "Take part in the draft regulations under public hearing before they close.",
    "propuesta": "Propose an initiative for your municipality.",
}

SUBJECT_AREAS = [
    ("Atención a la ciudadanía", "Citizen service"),
    ("Urbanismo y vivienda", "Planning and housing"),
    ("Vía pública y alumbrado", "Streets and lighting"),
    ("Limpieza y medio ambiente", "Cleaning and environment"),
    ("Tráfico y movilidad", "Traffic and mobility"),
    ("Servicios sociales", "Social services"),
    ("Cultura, deportes y juventud", "Culture, sport and youth"),
    ("Hacienda y tributos", "Finance and taxes"),
    ("Seguridad ciudadana", "Public safety"),
    ("Otros asuntos", "Other matters"),
]


def create(apps, schema_editor):
    CaseType = apps.get_model("cases", "CaseType")
    SubjectArea = apps.get_model("cases", "SubjectArea")
    for code, kind, series, name, english, order in CASE_TYPES:
        CaseType.objects.get_or_create(
            code=code,
            defaults={
                "kind": kind,
                "series": series,
                "name": name,
                "translations": {"en": english},
                "description": DESCRIPTIONS[code],
                "description_translations": {"en": DESCRIPTIONS_EN[code]},
                "order": order,
            },
        )
    for order, (name, english) in enumerate(SUBJECT_AREAS, start=1):
        SubjectArea.objects.get_or_create(
            name=name, defaults={"translations": {"en": english}, "order": order * 10}
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_cases")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
