"""An index for a unit's cases on time: the queue filtered by unit and "on time"
(``due_soon_from`` after today, cases.models.CaseQuerySet.deadline_state).

Without it PostgreSQL ANDed two bitmaps (every case of the unit, every open case on time) for
the few hundred rows of a page: 6-10 ms of SQL on the bench set against 2-4 ms for the other
deadline states, which ``case_unit_status_due`` serves. Built without blocking writes
(CONCURRENTLY: outside a transaction, hence ``atomic = False``).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("cases", "0006_case_answer_days")]

    operations = [
        AddIndexConcurrently(
            model_name="case",
            index=models.Index(
                fields=["unit", "status", "due_soon_from"], name="case_unit_status_due_soon"
            ),
        ),
    ]
