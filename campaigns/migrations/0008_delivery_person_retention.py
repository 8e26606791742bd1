# The retention job (campaigns.retention) anonymises the deliveries of old campaigns: their
# person goes. Dropping NOT NULL changes only the catalogue (no table rewrite, no long lock).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_delivery_references_unconstrained"),
        ("citizens", "0008_find_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="person",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="campaign_deliveries",
                to="citizens.person",
                verbose_name="person",
            ),
        ),
    ]
