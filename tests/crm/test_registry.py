"""Registry numbers (Ley 39/2015, art. 16): sequential and gap-free per series and year, even
when filings run at the same time in their own connections and some of them roll back."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from crm.models import RegistryCounter
from crm.registry import RegistryNumber, next_registry_number

pytestmark = pytest.mark.django_db


class RollBack(Exception):
    """Raised inside a filing's transaction to roll it back on purpose."""


def take(series: str = "QS", year: int = 2026) -> RegistryNumber:
    with transaction.atomic():
        return next_registry_number(series=series, year=year)


def test_numbers_follow_one_another_from_one():
    numbers = [take() for _filing in range(5)]
    assert [number.number for number in numbers] == [1, 2, 3, 4, 5]
    assert {(number.series, number.year) for number in numbers} == {("QS", 2026)}
    assert RegistryCounter.objects.get(series="QS", year=2026).last_number == 5


def test_each_number_has_the_time_it_was_taken_in_order():
    first, second = take(), take()
    assert isinstance(first.registered_at, datetime)
    assert first.registered_at.tzinfo is not None
    assert first.registered_at <= second.registered_at


def test_series_and_years_count_separately():
    assert take("QS", 2026).number == 1
    assert take("QS", 2026).number == 2
    assert take("SOL", 2026).number == 1
    assert take("QS", 2027).number == 1
    assert take("QS", 2026).number == 3
    assert take("SOL", 2026).number == 2
    counters = {
        (counter.series, counter.year): counter.last_number
        for counter in RegistryCounter.objects.all()
    }
    assert counters == {("QS", 2026): 3, ("SOL", 2026): 2, ("QS", 2027): 1}


def take_and_roll_back(series: str = "QS", year: int = 2026) -> int:
    """A filing that takes a number and then fails: its transaction (or savepoint) rolls back."""
    taken = 0
    try:
        with transaction.atomic():
            taken = next_registry_number(series=series, year=year).number
            raise RollBack
    except RollBack:
        return taken


def test_a_rolled_back_filing_leaves_no_gap():
    assert take().number == 1
    assert take_and_roll_back() == 2
    assert take().number == 2
    # The very first number of a series, rolled back with the counter it created.
    assert take_and_roll_back("NEW") == 1
    assert not RegistryCounter.objects.filter(series="NEW").exists()
    assert take("NEW").number == 1


def test_a_rolled_back_savepoint_gives_its_number_back():
    with transaction.atomic():
        assert next_registry_number(series="QS", year=2026).number == 1
        assert take_and_roll_back() == 2  # a savepoint inside the outer transaction
        assert next_registry_number(series="QS", year=2026).number == 2


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_rather_than_risk_a_gap():
    with pytest.raises(TransactionManagementError, match="transaction"):
        next_registry_number(series="QS", year=2026)
    assert not RegistryCounter.objects.exists()


@pytest.mark.parametrize(
    ("series", "year"),
    [("", 2026), ("qs", 2026), ("Q-S", 2026), ("1QS", 2026), ("TOOLONGSERIES", 2026), ("QS", 0)],
)
def test_bad_series_or_years_are_refused(series, year):
    with pytest.raises(ValueError, match="registry"), transaction.atomic():
        next_registry_number(series=series, year=year)


def test_the_formatted_number_and_back():
    number = RegistryNumber(series="QS", year=2026, number=123)
    assert number.formatted == "QS-2026-000123"
    assert str(number) == "QS-2026-000123"
    assert RegistryNumber.parse("QS-2026-000123") == number
    assert RegistryNumber.parse("  qs-2026-000123 ") == number
    big = RegistryNumber(series="SOL", year=2027, number=1_234_567)
    assert big.formatted == "SOL-2027-1234567"
    assert RegistryNumber.parse(big.formatted) == big
    taken = take()
    assert RegistryNumber.parse(taken.formatted) == taken  # the time does not count


@pytest.mark.parametrize(
    "text",
    ["", "QS-2026-123", "QS-26-000123", "QS2026000123", "QS-2026-000000", "Q S-2026-000001"],
)
def test_malformed_numbers_are_not_parsed(text):
    with pytest.raises(ValueError, match="registry number"):
        RegistryNumber.parse(text)


# --- Concurrent filings, each in its own thread, connection and transaction ---------------------

FILINGS = 20


def file_concurrently(count: int, *, roll_back: set[int], hold: float = 0.02) -> dict[int, int]:
    """Run ``count`` filings at once; those in ``roll_back`` roll back after taking a number.
    Returns {filing: number} of the filings that committed."""
    barrier = threading.Barrier(count)
    committed: dict[int, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def filing(index: int) -> None:
        try:
            barrier.wait(timeout=30)  # all of them ask at the same moment
            try:
                with transaction.atomic():
                    number = next_registry_number(series="QS", year=2026).number
                    time.sleep(hold)  # the rest of the filing's work, holding the lock
                    if index in roll_back:
                        raise RollBack
            except RollBack:
                return
            with lock:
                committed[index] = number
        except BaseException as error:
            with lock:
                errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=filing, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return committed


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_get_distinct_consecutive_numbers():
    committed = file_concurrently(FILINGS, roll_back=set())
    assert len(committed) == FILINGS
    assert sorted(committed.values()) == list(range(1, FILINGS + 1))
    assert RegistryCounter.objects.get(series="QS", year=2026).last_number == FILINGS


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_some_rolled_back_leave_no_gap():
    assert take().number == 1  # this time the counter exists before the rush
    rolled_back = {2, 7, 11, 19}
    committed = file_concurrently(FILINGS, roll_back=rolled_back)
    assert set(committed) == set(range(FILINGS)) - rolled_back
    kept = FILINGS - len(rolled_back)
    assert sorted(committed.values()) == list(range(2, kept + 2))
    assert RegistryCounter.objects.get(series="QS", year=2026).last_number == kept + 1
    assert take().number == kept + 2


@pytest.mark.django_db(transaction=True)
def test_a_waiting_filing_gets_the_number_a_rolled_back_one_gave_back():
    """The second filing waits on the first one's lock, and takes its number when it rolls back."""
    first_has_number = threading.Event()
    release_first = threading.Event()
    results: dict[str, int | BaseException] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = next_registry_number(series="QS", year=2026).number
                first_has_number.set()
                release_first.wait(timeout=30)
                raise RollBack
        except RollBack:
            pass
        except BaseException as error:
            results["first"] = error
        finally:
            first_has_number.set()
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                results["second"] = next_registry_number(series="QS", year=2026).number
        except BaseException as error:
            results["second"] = error
        finally:
            connection.close()

    take()  # the counter exists: the second filing waits on its row lock
    first_thread = threading.Thread(target=first)
    first_thread.start()
    assert first_has_number.wait(timeout=30)
    second_thread = threading.Thread(target=second)
    second_thread.start()
    second_thread.join(timeout=0.5)
    assert second_thread.is_alive(), "the second filing should wait for the first one's lock"
    assert "second" not in results
    release_first.set()
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)
    assert results == {"first": 2, "second": 2}
