"""The reports module's bench data and scenarios (docs/benchmarks.md, "Reports").

**Data.** A user with the management role, ``bench-management`` (every module's figures,
read-only, through ``reports.all_units``), besides what the other apps build (1,000,000 people,
200,000 cases, 50,000 opportunities).

**Scenario.** "reports dashboard": the dashboard as that user: the default period (the last twelve
weeks), a unit with its sub-units, and the twelve weeks before; goal p95 < 300 ms (issue #8). Its
figures come from the cache (at most five minutes old; the warm-up requests fill it), as they do
for every user but the first after an entry expires.

**Job.** "reports dashboard figures, uncached": what that first user waits for, the figures of
the default dashboard computed with the cache off (every section's queries).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from crm.bench import BENCH_PASSWORD, JobTimer, generator, job, scenario

from . import bench_pdf  # noqa: F401  (the "tabular pdf" job: discovery imports this module only)

BENCH_MANAGER = "bench-management"
DASHBOARD_UNIT = "bench-via-publica"


def count_managers() -> int:
    from crm.models import User

    return User.objects.filter(username=BENCH_MANAGER).count()


def management_role_as_catalogued() -> None:
    """The management role with the catalogue's permissions (crm.roles), on every run: a bench
    database built before the reports module had ``reports.all_units`` keeps the group as it was
    (``sync_roles`` leaves existing groups alone), and its user would count nothing."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    from crm.roles import ROLES_BY_CODE, sync_roles

    sync_roles()
    wanted = Q()
    for name in ROLES_BY_CODE["management"].permissions:
        app_label, codename = name.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    Group.objects.get(name="management").permissions.add(*Permission.objects.filter(wanted))


@generator(
    "report_managers",
    count=count_managers,
    default=1,
    help="a user with the management role (bench-management), for the reports dashboard",
    finish=management_role_as_catalogued,
)
def create_managers(start: int, stop: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from crm.models import User
    from crm.roles import sync_roles

    if start > 0 or stop < 1:
        return
    sync_roles()
    user = User.objects.create(
        username=BENCH_MANAGER,
        password=make_password(BENCH_PASSWORD),
        first_name="Gerencia",
        last_name="Bench",
        email=f"{BENCH_MANAGER}@bench.example",
    )
    user.groups.add(Group.objects.get(name="management"))


def dashboard_urls() -> list[str]:
    from django.utils import timezone

    from crm.models import Unit

    from .filters import default_period

    start, _end = default_period(timezone.localdate())
    before = {
        "start": (start - timedelta(weeks=12)).isoformat(),
        "end": (start - timedelta(days=1)).isoformat(),
    }
    urls = ["/reports/", f"/reports/?{urlencode(before)}"]
    unit = Unit.objects.filter(code=DASHBOARD_UNIT).values_list("pk", flat=True).first()
    if unit is not None:
        urls.append(f"/reports/?{urlencode({'unit': unit})}")
    return urls


scenario(
    "reports dashboard",
    description=(
        "The dashboard as a management user (every module, every unit) over 200,000 cases and "
        "1,000,000 people: the last twelve weeks, the twelve before, and one unit with its "
        "sub-units; figures cached for at most five minutes."
    ),
    urls=dashboard_urls,
    user=BENCH_MANAGER,
    target_p95_ms=300,
    max_queries=20,
)


@job(
    "reports dashboard figures uncached",
    description=(
        "Every section of the default dashboard computed for the management user with the cache "
        "off: what the first request after an entry expires costs."
    ),
    target_seconds=2,
)
def dashboard_uncached(timer: JobTimer) -> dict[str, object]:
    from django.test import override_settings
    from django.utils import timezone

    from crm.models import User

    from .dashboard import build
    from .filters import DashboardFilters, default_period

    user = User.objects.get(username=BENCH_MANAGER)
    today = timezone.localdate()
    start, end = default_period(today)
    with override_settings(REPORTS_DASHBOARD_CACHE_SECONDS=0), timer:
        board = build(user, DashboardFilters(start=start, end=end), today=today)
    return {
        "cases_received": board.case_flow.received,
        "cases_answered": board.case_flow.answers.answered,
        "open_cases": board.open_cases.total,
        "people": board.people.total,
        "opportunities": board.pipeline.count,
    }
