"""Field work's bench data and scenario (imported by sales.bench; docs/benchmarks.md, "Field
work").

**Data.** Twenty field users ``fieldwork-1`` .. ``fieldwork-20`` (role inspector, password
BENCH_PASSWORD), and for them ``--visits`` visits (default 100,000, one assignee each), ``--
field-tasks`` tasks (50,000) and ``--meetings`` meetings (10,000, the organiser attending),
spread over the three years from 1 January 2025: each user has about 4-5 visits, 2 tasks and
half a meeting per day, working hours. Every value of row ``n`` is a function of ``n``, so a run
stopped half-way resumes where it stopped.

**Scenario.** "calendar month": the month view of ``fieldwork-1`` for twelve months of 2026
(about 140 visits, 70 tasks and 15 meetings a month), goal p95 < 40 ms.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Max

from crm.bench import BENCH_PASSWORD, copy_objects, generator, scenario

FIELD_USERS = 20
START = datetime(2025, 1, 1, tzinfo=ZoneInfo("Europe/Madrid"))
SPAN_DAYS = 3 * 365
BENCH_TYPE = "bench-inspeccion"
SCENARIO_USER = "fieldwork-1"


def _users() -> list:
    """The field users (made on first use), in order."""
    from django.contrib.auth.hashers import make_password

    from crm.models import User
    from crm.roles import sync_roles
    from crm.services import user_set_roles

    names = [f"fieldwork-{number}" for number in range(1, FIELD_USERS + 1)]
    found = {user.username: user for user in User.objects.filter(username__in=names)}
    missing = [name for name in names if name not in found]
    if missing:
        sync_roles()
        password = make_password(BENCH_PASSWORD)
        for name in missing:
            user = User.objects.create(
                username=name, password=password, email=f"{name}@bench.example"
            )
            user_set_roles(user=user, roles=["inspector"])
            found[name] = user
    return [found[name] for name in names]


def _visit_type():
    from sales.models import VisitType

    visit_type, _created = VisitType.objects.get_or_create(
        code=BENCH_TYPE, defaults={"name": "Inspección (bench)"}
    )
    return visit_type


def _when(number: int, total: int, *, hour_offset: int = 0) -> datetime:
    day = number * SPAN_DAYS // max(total, 1)
    return START + timedelta(
        days=day, hours=8 + (number + hour_offset) % 10, minutes=30 * (number % 2)
    )


def count_visits() -> int:
    from sales.models import Visit

    return Visit.objects.filter(visit_type__code=BENCH_TYPE).count()


DEFAULT_VISITS = 100_000
DEFAULT_TASKS = 50_000
DEFAULT_MEETINGS = 10_000


@generator(
    "visits",
    count=count_visits,
    default=DEFAULT_VISITS,
    help="field visits of the fieldwork-N users over three years (sales)",
    chunk=20_000,
)
def create_visits(start: int, stop: int) -> None:
    from sales.models import Visit, VisitAssignee, VisitStatus

    users = _users()
    visit_type = _visit_type()
    before = Visit.objects.aggregate(last=Max("id"))["last"] or 0

    def visit(number: int) -> Visit:
        starts_at = _when(number, DEFAULT_VISITS)
        done = starts_at < START + timedelta(days=SPAN_DAYS // 2)
        return Visit(
            visit_type=visit_type,
            place_address=f"Calle Mayor {number % 300 + 1}",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            purpose=f"Inspección {number}",
            status=VisitStatus.DONE if done else VisitStatus.PLANNED,
        )

    copy_objects(Visit, (visit(number) for number in range(start, stop)))
    created = Visit.objects.filter(pk__gt=before, visit_type=visit_type).order_by("id")
    rows = created.values_list("id", "starts_at", "ends_at")
    copy_objects(
        VisitAssignee,
        (
            VisitAssignee(
                visit_id=pk,
                user_id=users[number % FIELD_USERS].pk,
                starts_at=starts_at,
                ends_at=ends_at,
            )
            for number, (pk, starts_at, ends_at) in zip(range(start, stop), rows, strict=True)
        ),
    )


def count_tasks() -> int:
    from sales.models import Task

    return Task.objects.filter(assignee__username__startswith="fieldwork-").count()


@generator(
    "field_tasks",
    count=count_tasks,
    default=DEFAULT_TASKS,
    help="tasks of the fieldwork-N users over three years (sales)",
    chunk=25_000,
)
def create_tasks(start: int, stop: int) -> None:
    from sales.models import Task

    users = _users()

    def task(number: int) -> Task:
        due_at = _when(number, DEFAULT_TASKS, hour_offset=3)
        return Task(
            title=f"Enviar el acta {number}",
            due_at=due_at,
            assignee_id=users[number % FIELD_USERS].pk,
            done_at=due_at if due_at < START + timedelta(days=SPAN_DAYS // 2) else None,
        )

    copy_objects(Task, (task(number) for number in range(start, stop)))


def count_meetings() -> int:
    from sales.models import Meeting

    return Meeting.objects.filter(organizer__username__startswith="fieldwork-").count()


@generator(
    "meetings",
    count=count_meetings,
    default=DEFAULT_MEETINGS,
    help="meetings of the fieldwork-N users over three years (sales)",
)
def create_meetings(start: int, stop: int) -> None:
    from sales.models import Meeting, MeetingAttendee

    users = _users()
    before = Meeting.objects.aggregate(last=Max("id"))["last"] or 0

    def meeting(number: int) -> Meeting:
        starts_at = _when(number, DEFAULT_MEETINGS, hour_offset=5)
        return Meeting(
            title=f"Coordinación {number}",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            place="Sala 2",
            organizer_id=users[number % FIELD_USERS].pk,
        )

    copy_objects(Meeting, (meeting(number) for number in range(start, stop)))
    rows = (
        Meeting.objects.filter(pk__gt=before)
        .order_by("id")
        .values_list("id", "organizer_id", "starts_at", "ends_at")
    )
    copy_objects(
        MeetingAttendee,
        (
            MeetingAttendee(meeting_id=pk, user_id=user, starts_at=starts_at, ends_at=ends_at)
            for pk, user, starts_at, ends_at in rows
        ),
    )


def calendar_month_urls() -> list[str]:
    from crm.models import User

    if not User.objects.filter(username=SCENARIO_USER).exists():
        raise RuntimeError("No field users: build the visits first.")
    return [f"/sales/calendar/?view=month&date=2026-{month:02d}-15" for month in range(1, 13)]


scenario(
    "calendar month",
    description=(
        "The month view of a field inspector's calendar (about 140 visits, 70 tasks and 15 "
        "meetings a month among 100,000 visits, 50,000 tasks and 10,000 meetings), twelve "
        "months: one UNION ALL query over three index ranges."
    ),
    urls=calendar_month_urls,
    user=SCENARIO_USER,
    target_p95_ms=40,
    max_queries=12,
)
