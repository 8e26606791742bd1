"""Registry numbers of cases stay gap-free under concurrent submissions: 20 filings through
``case_file`` at the same moment, each in its own thread, connection and transaction, against the
real database; some of them rolling back after their number was taken."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from cases.models import Case, CaseEntry, CaseType
from cases.services import Filer, case_file
from crm.audit import verify_chain
from crm.models import RegistryCounter
from crm.registry import RegistryNumber

FILINGS = 20


class RollBack(Exception):
    """Raised after a filing took its number, to roll its transaction back on purpose."""


@pytest.fixture
def catalogue(transactional_db):
    """The case types the migrations seed (tests/conftest.py puts them back after a flush)."""


@pytest.fixture
def receipts(monkeypatch) -> list[int]:
    """The cases whose receipt was queued (after their commit); nothing reaches the broker."""
    from cases import tasks

    queued: list[int] = []
    lock = threading.Lock()

    def delay(case_id: int) -> None:
        with lock:
            queued.append(case_id)

    monkeypatch.setattr(tasks.issue_receipt, "delay", delay)
    return queued


def file_concurrently(count: int, *, roll_back: set[int]) -> dict[int, str]:
    """``count`` filings released at once; those in ``roll_back`` fail after ``case_file``
    returned (number taken, rows written). {filing: registry number} of those committed."""
    case_type = CaseType.objects.get(code="queja")
    barrier = threading.Barrier(count)
    committed: dict[int, str] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def filing(index: int) -> None:
        filer = Filer(
            given_name=f"Persona {index}",
            first_surname="Concurrente",
            email=f"persona{index}@example.org",
        )
        try:
            barrier.wait(timeout=30)
            try:
                with transaction.atomic():
                    number = case_file(
                        case_type=case_type,
                        filer=filer,
                        subject=f"Queja {index}",
                        text="Presentada a la vez que otras diecinueve.",
                    ).case.registry_number
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
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return committed


def numbers_of(registry_numbers) -> list[int]:
    return sorted(RegistryNumber.parse(number).number for number in registry_numbers)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_filings_get_numbers_one_to_twenty(catalogue, receipts):
    committed = file_concurrently(FILINGS, roll_back=set())
    assert len(committed) == FILINGS
    assert numbers_of(committed.values()) == list(range(1, FILINGS + 1))
    stored = list(Case.objects.values_list("registry_number", flat=True))
    assert sorted(stored) == sorted(committed.values())  # unique in the database too
    year = RegistryNumber.parse(stored[0]).year
    assert RegistryCounter.objects.get(series="QS", year=year).last_number == FILINGS
    assert sorted(receipts) == sorted(Case.objects.values_list("pk", flat=True))
    assert CaseEntry.objects.count() == FILINGS
    # The filings took the audit chain's lock before the counter's: the chain never forked.
    assert list(verify_chain()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_some_rolled_back_leave_no_gap(catalogue, receipts):
    rolled_back = {0, 3, 8, 13, 19}
    committed = file_concurrently(FILINGS, roll_back=rolled_back)
    assert set(committed) == set(range(FILINGS)) - rolled_back
    kept = FILINGS - len(rolled_back)
    assert numbers_of(committed.values()) == list(range(1, kept + 1))
    assert Case.objects.count() == kept
    assert not Case.objects.filter(subject__in=[f"Queja {i}" for i in rolled_back]).exists()
    assert len(receipts) == kept  # no receipt for a filing that was rolled back
    year = RegistryNumber.parse(next(iter(committed.values()))).year
    assert RegistryCounter.objects.get(series="QS", year=year).last_number == kept
    # The next filing takes the very next number.
    again = file_concurrently(1, roll_back=set())
    assert numbers_of(again.values()) == [kept + 1]
    assert list(verify_chain()) == []
