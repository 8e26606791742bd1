"""Indexes on citizens' tables that the segments' conditions read (campaigns.segments): the
province of an address, compared without case (``upper(province) = upper(%s)``), and the age
range (``birth_date``) and recent interactions (``occurred_at`` in the last N days, with the
person: an index-only scan instead of reading every interaction). Raw SQL because the tables are another app's; no model state changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_campaigns_segments"),
        ("citizens", "0008_find_index"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS campaigns_address_province_upper "
            "ON citizens_postaladdress (upper(province)) WHERE person_id IS NOT NULL",
            "DROP INDEX IF EXISTS campaigns_address_province_upper",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS campaigns_person_birth_date "
            "ON citizens_person (birth_date) WHERE birth_date IS NOT NULL",
            "DROP INDEX IF EXISTS campaigns_person_birth_date",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS campaigns_interaction_recent "
            "ON citizens_interaction (occurred_at, person_id) WHERE person_id IS NOT NULL",
            "DROP INDEX IF EXISTS campaigns_interaction_recent",
        ),
    ]
