"""The case type of barrier reports from the accessibility statement (RD 1112/2018):
a complaint in the QS series, not offered in the public site's list of forms (its form is on the
statement page, /sede/accesibilidad/)."""

from django.db import migrations

CODE = "accesibilidad"


def create(apps, schema_editor):
    CaseType = apps.get_model("cases", "CaseType")
    CaseType.objects.get_or_create(
        code=CODE,
        defaults={
            "kind": "complaint",
            "series": "QS",
            "name": "Barrera de accesibilidad",
            "translations": {"en": "Accessibility barrier"},
            "description": "Comunicación de un problema de accesibilidad de la sede electrónica "
            "o de sus documentos (Real Decreto 1112/2018).",
            "description_translations": {
                "en": "A report of an accessibility problem of the public site or its "
                "documents (Royal Decree 1112/2018)."
            },
            "deadline_days": 20,
            "public": False,
            "order": 80,
        },
    )


def remove(apps, schema_editor):
    CaseType = apps.get_model("cases", "CaseType")
    Case = apps.get_model("cases", "Case")
    if not Case.objects.filter(case_type__code=CODE).exists():
        CaseType.objects.filter(code=CODE).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_catalogue")]

    operations = [migrations.RunPython(create, remove)]
