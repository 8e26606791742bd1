"""Old audit events may end (crm.retention): an anchor keeps where the trail now starts, and the
append-only trigger lets DELETE through only where the retention job asked for it in its own
transaction (``SET LOCAL crm.audit_retention = 'on'``). UPDATE and TRUNCATE stay refused."""

import django.utils.timezone
from django.db import migrations, models

ALLOW_RETENTION = """
CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('crm.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

FORBID_ALL = """
CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0006_audit_fewer_indexes")]

    operations = [
        migrations.CreateModel(
            name="AuditAnchor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("last_id", models.BigIntegerField(unique=True)),
                ("last_hash", models.CharField(max_length=64)),
                ("ended", models.PositiveIntegerField()),
                ("cutoff", models.DateTimeField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "audit trail anchor",
                "verbose_name_plural": "audit trail anchors",
                "ordering": ["-last_id"],
            },
        ),
        migrations.RunSQL(ALLOW_RETENTION, FORBID_ALL),
    ]
