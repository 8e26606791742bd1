"""Celery tasks of the dashboard (imported by ``ReportsConfig.ready``): thin, they call
reports.dashboard."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="reports.dashboard_tasks.refresh_people_figures", acks_late=True)
def refresh_people_figures() -> int:
    """Beat, every four minutes of the working day: the people by municipality computed again
    and put in the cache before the entry the pages read expires."""
    from reports.dashboard import refresh_people

    return refresh_people()
