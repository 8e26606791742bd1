"""The crm app's bench data and scenarios: the bench users, the login page and the home page.

(Other apps put theirs in ``<app>/bench.py``; the crm app's live here because ``crm.bench`` is the
benchmark package itself.)
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from crm.bench import BENCH_PASSWORD, BENCH_USER, copy_objects, generator, scenario


def bench_username(number: int) -> str:
    """Bench users are ``bench-1`` (BENCH_USER), ``bench-2``, ...; ``number`` counts from 0."""
    return f"bench-{number + 1}"


def count_users() -> int:
    return get_user_model().objects.filter(username__startswith="bench-").count()


@generator(
    "users",
    count=count_users,
    default=1,
    help="bench users: superusers that see every module, password BENCH_PASSWORD",
)
def create_users(start: int, stop: int) -> None:
    User = get_user_model()
    # Hashing is slow on purpose: hash once, give every bench user the same hash.
    password = make_password(BENCH_PASSWORD)
    copy_objects(
        User,
        (
            User(
                username=bench_username(number),
                password=password,
                first_name="Bench",
                last_name=f"User {number + 1}",
                email=f"{bench_username(number)}@bench.example",
                is_staff=True,
                is_superuser=True,
            )
            for number in range(start, stop)
        ),
    )


PLAIN_USER = "bench-plain"


def count_plain_users() -> int:
    return get_user_model().objects.filter(username=PLAIN_USER).count()


@generator(
    "plain_users",
    count=count_plain_users,
    default=1,
    help="a bench user without roles (bench-plain), whom every module refuses",
)
def create_plain_users(start: int, stop: int) -> None:
    User = get_user_model()
    if start == 0 and stop > 0:
        copy_objects(
            User,
            [User(username=PLAIN_USER, password=make_password(BENCH_PASSWORD), is_staff=False)],
        )


scenario(
    "login page",
    description="Anonymous GET of the login form: the cost of the frame, sessions and CSRF.",
    urls="/accounts/login/",
)

scenario(
    "home page",
    description="The staff home page ('my work') with every module's panels, logged in.",
    urls="/",
    user=BENCH_USER,
)

scenario(
    "audit write",
    description=(
        "A refused page (403): every request writes one event to the audit trail's hash chain; "
        "the notes give the audit write's own p50/p95."
    ),
    urls="/audit/",
    user=PLAIN_USER,
    expected_status=403,
    target_audit_p95_ms=2,  # issue #3: the audit write adds under 2 ms p95 to a request
)
