"""Seed a starting set of visit types with their checklists (administrators edit them in the
admin). Only creates what is missing: a type already there is left as it is."""

from django.db import migrations

VISIT_TYPES = [
    (
        "inspeccion-establecimiento",
        "Inspección de establecimiento",
        [
            "Licencia de actividad expuesta y vigente",
            "Hojas de reclamaciones disponibles",
            "Salidas de emergencia despejadas y señalizadas",
            "Extintores revisados en el último año",
            "Condiciones higiénicas adecuadas",
        ],
    ),
    (
        "visita-promocion",
        "Visita de promoción",
        [
            "Presentados los servicios y programas",
            "Entregada la documentación",
            "Identificada la persona de contacto",
            "Interés en un convenio o patrocinio",
        ],
    ),
    (
        "auditoria-subvencion",
        "Auditoría de subvención",
        [
            "Actividad subvencionada realizada",
            "Justificantes de gasto originales",
            "Publicidad de la financiación pública",
            "Registro contable separado",
        ],
    ),
]


def create(apps, schema_editor):
    VisitType = apps.get_model("sales", "VisitType")
    ChecklistItem = apps.get_model("sales", "ChecklistItem")
    for order, (code, name, items) in enumerate(VISIT_TYPES):
        visit_type, created = VisitType.objects.get_or_create(
            code=code, defaults={"name": name, "order": order}
        )
        if created:
            ChecklistItem.objects.bulk_create(
                ChecklistItem(visit_type=visit_type, text=text, order=number)
                for number, text in enumerate(items)
            )


class Migration(migrations.Migration):
    dependencies = [("sales", "0004_fieldwork")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
