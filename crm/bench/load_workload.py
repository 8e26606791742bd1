"""The Locust workload of ``make loadtest`` (crm/loadtest.py starts Locust with this file).

Two kinds of simulated users against one server:

- ``Staff``: a member of staff already logged in (the runner logged each one in through the
  real login form and hands over the session cookie), browsing the pages of their role: lists
  (people, the case queue with its filters, opportunities, visits), 360° person pages, case
  pages. Each staff user is paced to ``staff_rate / staff_users`` requests a second, so the
  staff load offered is the same whatever the server does with it (``constant_throughput``: a
  slow server gets fewer requests, not a pile of them).
- ``Citizen``: a new citizen each time, on the public site: opens the complaint form (CSRF
  cookie and token, the form's signed stamp), takes more than the minimum fill time a person
  needs (``SEDE_MIN_FILL_SECONDS``, honoured as a browser would: it waits), posts the form
  filled in and follows the redirect to the receipt page. ``citizens`` of them, each starting a
  submission every ``cycle`` seconds: ``submission_rate`` submissions a second offered.

No Django here: this file runs in Locust's process (gevent). Everything it needs (the URLs of
each role, the session cookies, the DNIs of the new citizens, the form's subject area) is in the
plan, a JSON file named by Locust's option ``--plan`` (added here); at the end it writes every
request (name, start, response time, error) and the measured window to the file named by
``--records``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from locust import constant, constant_pacing, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser

PLAN: dict[str, Any] = {}  # read from --plan when Locust starts (load_plan)

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([\w-]+)=["']([^"']*)["']""")


def hidden_inputs(html: str) -> dict[str, str]:
    """The name and value of every input of a page that has both (CSRF token, the stamp)."""
    values = {}
    for tag in _INPUT.findall(html):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if "name" in attributes and "value" in attributes:
            values[attributes["name"]] = attributes["value"]
    return values


_staff_sessions: Iterator[dict[str, Any]] = iter(())
_citizen_numbers = itertools.count()
# The citizens whose filing was answered with the receipt's redirect: the runner checks that each
# of them has a case in the database.
FILED: list[int] = []


class Staff(FastHttpUser):
    """A logged-in member of staff browsing the pages of their role."""

    weight = 1
    wait_time = constant(1)  # paced by load_plan

    def on_start(self) -> None:
        session = next(_staff_sessions)
        self.role = session["role"]
        self.cookie = "; ".join(f"{name}={value}" for name, value in session["cookies"].items())
        pages = PLAN["staff"]["pages"][self.role]
        self.pages = [page for page in pages if page["urls"]]
        self.weights = [page["weight"] for page in self.pages]

    @task
    def browse(self) -> None:
        page = random.choices(self.pages, weights=self.weights)[0]  # noqa: S311 (a workload)
        url = random.choice(page["urls"])  # noqa: S311
        # The session is the runner's login, sent as it is (not mixed with cookies answered).
        self.client.cookiejar.clear()
        with self.client.get(
            url,
            name=page["name"],
            headers={"Cookie": self.cookie},
            allow_redirects=False,
            catch_response=True,
        ) as response:
            # A redirect (to the login page: the session ended) or a refusal is an error.
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} as {self.role}")


class Citizen(FastHttpUser):
    """A new citizen filing a complaint on the public site, every ``cycle`` seconds."""

    fixed_count = 0  # set by load_plan
    wait_time = constant(1)  # paced by load_plan

    @task
    def file_a_complaint(self) -> None:
        public = PLAN["citizens"]
        n = next(_citizen_numbers)
        if n >= len(public["documents"]):
            return  # the run's DNIs are used up (the runner sized them above the run's needs)
        self.client.cookiejar.clear()  # somebody new: no cookie from the previous filing
        with self.client.get(public["form"], name="public form", catch_response=True) as page:
            if page.status_code != 200:
                page.failure(f"HTTP {page.status_code}")
                return
            hidden = hidden_inputs(page.text or "")
            if "stamp" not in hidden or "csrfmiddlewaretoken" not in hidden:
                page.failure("the form has no stamp or CSRF token")
                return
        # Reading and typing take a person longer than the minimum the site asks for.
        time.sleep(public["min_fill_seconds"] + random.uniform(0.2, 1.0))  # noqa: S311
        data = {**hidden, **filing(public, n)}
        with self.client.post(
            public["form"],
            data=data,
            name="public form submission",
            headers={"Referer": self.client.base_url + public["form"]},
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            location = answer.headers.get("Location", "") if answer.headers else ""
            if answer.status_code != 302 or not location.endswith(public["receipt"]):
                answer.failure(f"HTTP {answer.status_code} {location or 'not filed'}")
                return
        FILED.append(n)
        with self.client.get(
            public["receipt"], name="public receipt page", catch_response=True
        ) as receipt:
            if receipt.status_code != 200:
                receipt.failure(f"HTTP {receipt.status_code}")


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--plan", default="", help="the load test's plan (crm/loadtest.py)")
    parser.add_argument("--records", default="", help="where to write every request at the end")


@events.init.add_listener
def load_plan(environment: Any, **kwargs: Any) -> None:
    """Read the plan; pace the staff and the citizens and say how many citizens there are."""
    global _staff_sessions
    PLAN.update(json.loads(Path(environment.parsed_options.plan).read_text()))
    _staff_sessions = itertools.cycle(PLAN["staff"]["sessions"])
    if PLAN["staff"]["rate_per_user"]:
        Staff.wait_time = constant_throughput(PLAN["staff"]["rate_per_user"])
    Citizen.fixed_count = PLAN["citizens"]["count"]
    Citizen.wait_time = constant_pacing(PLAN["citizens"]["cycle"])


def filing(public: dict[str, Any], n: int) -> dict[str, str]:
    """What citizen ``n`` types into the complaint form: a person nobody has filed as yet."""
    return {
        "given_name": "Lucía",
        "first_surname": "Carga",
        "second_surname": f"Prueba {n}",
        "document_type": "dni",
        "document_number": public["documents"][n],
        "email": public["email"].format(n=n),
        "phone": "",
        "street": "Calle Mayor",
        "street_number": str(1 + n % 90),
        "postcode": "28801",
        "municipality": "Alcalá de Henares",
        "province": "Madrid",
        "subject_area": public["subject_area"],
        "subject": "Farola apagada en la calle Mayor",
        "text": (
            "La farola frente al portal lleva una semana apagada y la acera queda a oscuras "
            "por la noche. Ruego que la reparen."
        ),
        "privacy": "on",
    }


# Every request: [name, method, started (epoch s), response time (ms), error or None]. The
# runner computes the figures over the requests started while measuring: from the moment every
# user has started to the moment the run is told to stop (the citizens still busy then finish
# their filing: those requests come after the window, and their errors still count).
RECORDS: list[list[Any]] = []
WINDOW: dict[str, float] = {}


@events.request.add_listener
def record(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **kwargs: Any,
) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000
    error = None if exception is None else str(exception)[:300]
    RECORDS.append([name, request_type, round(started, 4), round(response_time, 2), error])


@events.spawning_complete.add_listener
def measuring_starts(**kwargs: Any) -> None:
    WINDOW.setdefault("start", time.time())


@events.test_stopping.add_listener
def measuring_ends(**kwargs: Any) -> None:
    WINDOW.setdefault("end", time.time())


@events.quitting.add_listener
def write_records(environment: Any, **kwargs: Any) -> None:
    path = environment.parsed_options.records
    if path:
        result = {"window": WINDOW, "records": RECORDS, "filed": FILED}
        Path(path).write_text(json.dumps(result, ensure_ascii=False))
