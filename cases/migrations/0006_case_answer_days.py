"""Business days taken to answer, stored on the case (reports.case_stats reads them in SQL).

The backfill computes them for the cases answered before this migration, as
``cases.services.answer_timing`` does for new answers (the same rules, frozen here): in
batches by id, one query for the cases and one for their suspensions per batch, one
``UPDATE ... FROM unnest(...)`` per batch, a calendar per citizen's municipality.
"""

from datetime import date

from django.db import migrations, models

BATCH = 5000


def _timing(calendar, filed_on: date, answered_on: date, days: int, due, periods):
    periods = [
        (max(begin, filed_on), max(begin, filed_on, end or answered_on)) for begin, end in periods
    ]
    if periods:
        taken = calendar.business_days_counted(filed_on, answered_on, periods)
        due = calendar.deadline(filed_on, days, periods)
    else:
        taken = max(0, calendar.business_days_between(filed_on, answered_on))
        due = due or calendar.deadline(filed_on, days)
    return taken, due is not None and answered_on <= due


def backfill_answer_days(apps, schema_editor):
    from crm.calendar import BusinessCalendar

    Case = apps.get_model("cases", "Case")
    CaseSuspension = apps.get_model("cases", "CaseSuspension")
    connection = schema_editor.connection
    calendars: dict[str, BusinessCalendar] = {}
    pending = Case.objects.filter(answered_at__isnull=False, answer_days__isnull=True)
    last = 0
    while True:
        rows = list(
            pending.filter(pk__gt=last)
            .order_by("pk")
            .values_list(
                "pk",
                "official_filed_at",
                "answered_at",
                "deadline_days",
                "due_date",
                "filer__municipality",
            )[:BATCH]
        )
        if not rows:
            return
        last = rows[-1][0]
        suspended: dict[int, list] = {}
        for case_id, begin, end in CaseSuspension.objects.filter(
            case_id__in=[row[0] for row in rows]
        ).values_list("case_id", "started_on", "ended_on"):
            suspended.setdefault(case_id, []).append((begin, end))
        ids, taken_days, on_time = [], [], []
        for pk, official, answered, days, due, municipality in rows:
            place = municipality if isinstance(municipality, str) else ""
            calendar = calendars.get(place)
            if calendar is None:
                calendar = calendars[place] = BusinessCalendar(citizen_municipality=place or None)
            zone = calendar.time_zone
            taken, in_time = _timing(
                calendar,
                official.astimezone(zone).date(),
                answered.astimezone(zone).date(),
                days,
                due,
                suspended.get(pk, []),
            )
            ids.append(pk)
            taken_days.append(min(taken, 32767))
            on_time.append(in_time)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_case SET answer_days = v.days, answered_on_time = v.on_time "
                "FROM unnest(%s::bigint[], %s::int[], %s::boolean[]) AS v(id, days, on_time) "
                "WHERE cases_case.id = v.id",
                [ids, taken_days, on_time],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0005_case_campaign"),
        ("crm", "0004_local_holidays"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="answer_days",
            field=models.PositiveSmallIntegerField(
                blank=True, editable=False, null=True, verbose_name="business days taken to answer"
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="answered_on_time",
            field=models.BooleanField(
                blank=True, editable=False, null=True, verbose_name="answered within the term"
            ),
        ),
        migrations.RunPython(backfill_answer_days, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("answered_at__isnull", False)),
                fields=["answered_at"],
                include=("answer_days", "answered_on_time", "unit"),
                name="case_answered",
            ),
        ),
    ]
