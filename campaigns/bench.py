"""Benchmarks of the campaigns module (docs/benchmarks.md, "Campaigns").

Sending jobs (campaigns.sending):

- ``campaign freeze``: launching a campaign to 200,000 people freezes them into deliveries in one
  ``INSERT ... SELECT`` (eligibility checked per person: address, latest consent, suppression).
  Target: under 5 s. Rolled back.
- ``campaign sending``: a campaign of 100,000 recipients sent by Celery workers (prefork) to an
  SMTP sink of the bench's own (aiosmtpd), which counts the ``X-CRM-Delivery`` header of every
  message: the rate from the first to the last message, and duplicates (must be zero). Target:
  >= 500 messages/s. The campaign, its deliveries and timeline entries are deleted afterwards.

Sizes from the environment: ``BENCH_FREEZE_RECIPIENTS`` (200,000), ``BENCH_SEND_RECIPIENTS``
(100,000), ``BENCH_SEND_WORKERS`` (Celery processes and senders, default 4: two per core, as
senders wait on the database and the SMTP server half of the time), ``BENCH_SEND_WAIT`` (seconds
to wait for the last message, default 900).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crm.bench import BENCH_USER, JobTimer, SkipJob, generator, job, scenario

FREEZE_TARGET_SECONDS = 5
SEND_TARGET_RATE = 500
_HEADER = re.compile(rb"^X-CRM-Delivery: *(\d+)", re.MULTILINE | re.IGNORECASE)


def _size(name: str, default: int) -> int:
    value = int(os.environ.get(name) or default)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return value


def _in_own_connection(function: Callable[[], Any]) -> Any:
    """Run ``function`` in a thread: its own database connection, outside the job's
    (rolled-back) transaction, so that what it writes is committed and seen by the workers."""
    from django.db import connection

    def run() -> Any:
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _campaign(name: str, person_ids_sql: str, limit: int, **fields):
    """A draft email campaign whose static list holds ``limit`` people eligible for the
    newsletter (by ``person_ids_sql`` order)."""
    from django.db import connection

    from campaigns import sending
    from campaigns.models import Campaign, StaticList
    from citizens.models import ConsentPurpose, Person

    purpose = ConsentPurpose.objects.filter(code="boletin").first()
    if purpose is None:
        raise SkipJob("The bench data has no 'boletin' (newsletter) consent purpose.")
    static = StaticList.objects.create(name=name, source="upload")
    people = sending.eligible(Person.objects.all(), purpose).values("pk")
    sql, params = people.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO campaigns_staticlistmember (static_list_id, person_id)
            SELECT %s, q.id FROM ({sql}) AS q (id) ORDER BY {person_ids_sql} LIMIT %s""",  # noqa: S608
            [static.pk, *params, limit],
        )
        members = cursor.rowcount
    if members < limit:
        raise SkipJob(f"Only {members} people may receive a newsletter; {limit} are needed.")
    StaticList.objects.filter(pk=static.pk).update(size=members)
    code = f"bench-{name}-{int(time.time())}"
    return Campaign.objects.create(
        name=f"Bench {name}",
        code=code,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        purpose=purpose,
        static_list=static,
        channels=["email"],
        email_subject="Campaña {{ campaign.name }} para {{ person.given_name }}",
        email_html="<p>Hola {{ person.full_name }}:</p><p>Prevención de incendios forestales: "
        'consulte <a href="https://www.example.org/incendios">las normas</a>.</p>',
        email_text="Hola {{ person.full_name }}:\n\nPrevención de incendios forestales: "
        "https://www.example.org/incendios\n",
        **fields,
    )


@job(
    "campaign freeze",
    description=(
        "Launching a campaign to 200,000 people: their deliveries frozen in one INSERT ... "
        "SELECT with eligibility checked per person; rolled back. Target: under 5 s."
    ),
    target_seconds=FREEZE_TARGET_SECONDS,
)
def campaign_freeze(timer: JobTimer) -> dict[str, Any]:
    from django.db import connection

    from campaigns import sending

    recipients = _size("BENCH_FREEZE_RECIPIENTS", 200_000)
    campaign = _campaign("freeze", "q.id", recipients)
    with connection.cursor() as cursor:
        # The job runs in a transaction that is rolled back: constraints the set-up left
        # deferred are checked now, and those of the launch inside the timer, as a commit would.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        with timer:
            frozen = sending.freeze_recipients(campaign)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    if frozen != recipients:
        raise RuntimeError(f"{frozen} deliveries frozen for {recipients} eligible people.")
    return {"recipients": frozen}


# --- Sending ------------------------------------------------------------------------------------


@dataclass
class Sink:
    """An aiosmtpd handler counting the X-CRM-Delivery header of every message."""

    seen: set[int] = field(default_factory=set)
    messages: int = 0
    duplicates: int = 0
    without_header: int = 0
    first_at: float | None = None
    last_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        match = _HEADER.search(envelope.original_content or b"")
        now = time.monotonic()
        with self._lock:
            self.messages += 1
            self.first_at = self.first_at or now
            self.last_at = now
            if match is None:
                self.without_header += 1
            else:
                delivery = int(match.group(1))
                if delivery in self.seen:
                    self.duplicates += 1
                self.seen.add(delivery)
        return "250 OK"


@contextlib.contextmanager
def sink() -> Iterator[tuple[Sink, int]]:
    from aiosmtpd.controller import Controller

    handler = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _cleanup(campaign_id: int, static_list_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM citizens_interaction WHERE related_type = 'campaigns.campaign' "
            "AND related_id = %s",
            [campaign_id],
        )
        cursor.execute("DELETE FROM campaigns_delivery WHERE campaign_id = %s", [campaign_id])
        cursor.execute("DELETE FROM campaigns_campaign WHERE id = %s", [campaign_id])
        cursor.execute(
            "DELETE FROM campaigns_staticlistmember WHERE static_list_id = %s", [static_list_id]
        )
        cursor.execute("DELETE FROM campaigns_staticlist WHERE id = %s", [static_list_id])


@job(
    "campaign sending",
    description=(
        "A campaign of 100,000 recipients sent by Celery workers over persistent SMTP "
        "connections to a local aiosmtpd sink counting each message's X-CRM-Delivery header. "
        "Target: >= 500 messages/s with zero duplicates and none missing."
    ),
)
def campaign_sending(timer: JobTimer) -> dict[str, Any]:
    from campaigns import sending
    from cases.bench.submissions import celery_workers
    from crm import embedded
    from crm.celery import app

    recipients = _size("BENCH_SEND_RECIPIENTS", 100_000)
    workers = _size("BENCH_SEND_WORKERS", 4)
    wait = _size("BENCH_SEND_WAIT", 900)
    log_dir = embedded.LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    # Spread over the register (not the first ids only), unthrottled: the rate is the machine's.
    campaign = _in_own_connection(
        lambda: _campaign("sending", "md5(q.id::text)", recipients, send_rate=100_000)
    )
    try:
        with sink() as (handler, port):
            env = {
                **embedded.services_env(),
                "EMAIL_URL": f"smtp://127.0.0.1:{port}",
                "CAMPAIGN_SENDERS": str(workers),
            }
            app.control.purge()
            with celery_workers(env, workers, log_dir / "bench-campaign-celery.log"):
                from django.conf import settings

                settings.CAMPAIGN_SENDERS = workers  # the launch queues one task per sender
                launched = time.monotonic()
                result = _in_own_connection(lambda: sending.launch(campaign, None))
                freeze_seconds = time.monotonic() - launched
                with timer:
                    deadline = time.monotonic() + wait
                    while len(handler.seen) < result.recipients and time.monotonic() < deadline:
                        time.sleep(0.5)
                    time.sleep(2)  # a duplicate would come now, if ever
        progress = _in_own_connection(lambda: sending.progress(campaign))
    finally:
        _in_own_connection(lambda: _cleanup(campaign.pk, campaign.static_list_id))
    span = (handler.last_at or 0) - (handler.first_at or 0)
    rate = (handler.messages - 1) / span if span > 0 else 0.0
    return {
        "recipients": result.recipients,
        "received": len(handler.seen),
        "duplicates": handler.duplicates,
        "without_header": handler.without_header,
        "missing": result.recipients - len(handler.seen),
        "sent_recorded": progress.sent,
        "failed_recorded": progress.failed,
        "workers": workers,
        "launch_seconds": round(freeze_seconds, 2),
        "messages_per_second": round(rate, 1),
        "target_met": rate >= SEND_TARGET_RATE
        and handler.duplicates == 0
        and len(handler.seen) == result.recipients,
    }


# --- Segments -----------------------------------------------------------------------------------
# Counting a dynamic segment over the register (1,000,000 people): the segment's page counts its
# members now and shows the first keyset page of them. Target: p95 < 1 s.

BENCH_SEGMENT_PREFIX = "Bench segment"


def _bench_segment_rules() -> list[dict[str, Any]]:
    from citizens.models import ConsentPurpose

    newsletter = ConsentPurpose.objects.filter(code="boletin").values_list("pk", flat=True).first()
    rules: list[dict[str, Any]] = [
        {  # working age in a big city
            "op": "and",
            "rules": [
                {"type": "age", "min": 18, "max": 65},
                {"type": "municipality", "values": ["Sevilla", "Dos Hermanas"]},
            ],
        },
        {  # a province, without contact in the last month
            "op": "and",
            "rules": [
                {"type": "province", "values": ["Cádiz", "Málaga"]},
                {"type": "interaction", "days": 30, "negate": True},
            ],
        },
        {  # two tags or elderly
            "op": "or",
            "rules": [
                {"type": "tags", "values": ["mayores", "discapacidad"], "match": "all"},
                {"type": "age", "min": 80},
            ],
        },
        {"op": "and", "rules": []},  # everyone who may be targeted
    ]
    if newsletter:  # consent and (elderly or volunteers): the costliest condition
        rules.append(
            {
                "op": "and",
                "rules": [
                    {"type": "consent", "purpose": newsletter},
                    {
                        "op": "or",
                        "rules": [
                            {"type": "age", "min": 65},
                            {"type": "tags", "values": ["voluntariado"]},
                        ],
                    },
                ],
            }
        )
    return rules


def count_bench_segments() -> int:
    from campaigns.models import Segment

    return Segment.objects.filter(name__startswith=BENCH_SEGMENT_PREFIX).count()


@generator(
    "segments",
    count=count_bench_segments,
    default=5,
    help="dynamic segments over the register (campaigns), for the 'segment count' scenario",
)
def create_bench_segments(start: int, stop: int) -> None:
    from campaigns.models import Segment
    from campaigns.segments import clean_rules

    every = _bench_segment_rules()
    for number in range(start, stop):
        Segment.objects.create(
            name=f"{BENCH_SEGMENT_PREFIX} {number + 1}",
            rules=clean_rules(every[number % len(every)]),
        )


def bench_segment_urls() -> list[str]:
    from campaigns.models import Segment

    found = Segment.objects.filter(name__startswith=BENCH_SEGMENT_PREFIX).order_by("pk")
    return [f"/campaigns/segments/{pk}/" for pk in found.values_list("pk", flat=True)]


scenario(
    "segment count",
    description=(
        "The page of a dynamic segment: its members counted now over the whole register (age, "
        "municipality, province, tags, consent, recent interactions; AND/OR and NOT) and the "
        "first keyset page of them."
    ),
    urls=bench_segment_urls,
    user=BENCH_USER,
    requests=100,
    target_p95_ms=1000,
)
