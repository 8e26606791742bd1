"""Triggers that keep ``sales_stagetotal`` (count and sum of the open opportunities per stage
and currency) in step with ``sales_opportunity``: statement-level, with transition tables, so a
statement writing many rows (a COPY, a bulk update) makes one upsert per stage and currency.
Then the totals of the opportunities already there."""

from django.db import migrations

# The upsert each trigger runs on its rows' (stage, currency, count, amount) deltas.
UPSERT = """
    INSERT INTO sales_stagetotal (stage_id, currency, open_count, open_amount)
    SELECT stage_id, currency, sum(n), sum(amount) FROM ({deltas}) AS deltas
    GROUP BY stage_id, currency
    ON CONFLICT (stage_id, currency) DO UPDATE
    SET open_count = sales_stagetotal.open_count + EXCLUDED.open_count,
        open_amount = sales_stagetotal.open_amount + EXCLUDED.open_amount;
"""
ADDED = "SELECT stage_id, currency, 1 AS n, amount FROM new_rows WHERE status = 'open'"
REMOVED = (
    "SELECT stage_id, currency, -1 AS n, -amount AS amount FROM old_rows WHERE status = 'open'"
)


def _function(name: str, deltas: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{UPSERT.format(deltas=deltas)}
    RETURN NULL;
END;
$$;
"""


APPLY = (
    _function("sales_stage_totals_insert", ADDED)
    + _function("sales_stage_totals_update", f"{ADDED} UNION ALL {REMOVED}")
    + _function("sales_stage_totals_delete", REMOVED)
    + """
CREATE TRIGGER sales_stage_totals_insert AFTER INSERT ON sales_opportunity
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_stage_totals_insert();
CREATE TRIGGER sales_stage_totals_update AFTER UPDATE ON sales_opportunity
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_stage_totals_update();
CREATE TRIGGER sales_stage_totals_delete AFTER DELETE ON sales_opportunity
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sales_stage_totals_delete();

DELETE FROM sales_stagetotal;
INSERT INTO sales_stagetotal (stage_id, currency, open_count, open_amount)
SELECT stage_id, currency, count(*), sum(amount)
FROM sales_opportunity WHERE status = 'open' GROUP BY stage_id, currency;
"""
)

REVERT = """
DROP TRIGGER IF EXISTS sales_stage_totals_insert ON sales_opportunity;
DROP TRIGGER IF EXISTS sales_stage_totals_update ON sales_opportunity;
DROP TRIGGER IF EXISTS sales_stage_totals_delete ON sales_opportunity;
DROP FUNCTION IF EXISTS sales_stage_totals_insert();
DROP FUNCTION IF EXISTS sales_stage_totals_update();
DROP FUNCTION IF EXISTS sales_stage_totals_delete();
"""


class Migration(migrations.Migration):
    dependencies = [("sales", "0006_stage_totals")]

    operations = [migrations.RunSQL(APPLY, REVERT)]
