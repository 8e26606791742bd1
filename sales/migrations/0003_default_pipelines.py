"""Seed a default set of pipelines and stages, in the body's language (Spanish);
administrators rename and edit them in the admin."""

from django.db import migrations

PIPELINES = [
    (
        "Patrocinios",
        "Empresas y asociaciones que patrocinan actos y programas.",
        [("Prospección", 10), ("Contactado", 20), ("Propuesta enviada", 50), ("Negociación", 75)],
    ),
    (
        "Suscripciones a servicios",
        "Suscripciones a servicios del organismo (instalaciones, espacios publicitarios, cursos).",
        [("Interés", 10), ("Presupuesto enviado", 40), ("Negociación", 70), ("Firma", 90)],
    ),
    (
        "Convenios",
        "Convenios de colaboración con entidades.",
        [("Primer contacto", 10), ("Borrador", 30), ("Informe jurídico", 60), ("Aprobación", 85)],
    ),
]


def create(apps, schema_editor):
    Pipeline = apps.get_model("sales", "Pipeline")
    Stage = apps.get_model("sales", "Stage")
    for order, (name, description, stages) in enumerate(PIPELINES):
        pipeline, created = Pipeline.objects.get_or_create(
            name=name, defaults={"description": description, "order": order}
        )
        if created:
            Stage.objects.bulk_create(
                Stage(pipeline=pipeline, name=stage, order=position, probability=probability)
                for position, (stage, probability) in enumerate(stages)
            )


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_funnel")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
