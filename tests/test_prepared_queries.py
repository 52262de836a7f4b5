"""config/queries.py: a query compiled once runs with new values as the ORM would run it, on
either database: the same rows, converted the same way (SQLite's booleans, time zones,
annotations, deferred fields), the connection's locking clause, and each shape of an `__in`
list its own SQL; a query it cannot bind faithfully is refused when it is compiled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.queries import Prepared, together
from ledger.contracts import deployed_address
from ledger.models import Deployment
from marketplace.models import Job, User
from tests import factories

pytestmark = pytest.mark.django_db


def _jobs(chain: int, jobs: list[int]) -> QuerySet[Job]:
    return (
        Job.objects.only("title", "commit_deadline")
        .annotate(
            house=deployed_address("AuctionHouse", chain),
            deployed=Exists(Deployment.objects.filter(chain_id=chain, name=OuterRef("title"))),
        )
        .filter(pk__in=jobs)
        .order_by("pk")
    )


JOBS = Prepared(_jobs)
TITLES = Prepared(lambda title: Job.objects.filter(title=title).values_list("pk", flat=True))
LOCKED = Prepared(
    lambda job: Job.objects.select_for_update().filter(pk=job).values_list("pk", "title")
)


def _deploy(chain: int, name: str, address: str) -> None:
    Deployment.objects.create(
        chain_id=chain, name=name, address=address, tx_hash="0x", block_number=1, bytecode_hash=""
    )


def _seen(jobs: list[Any]) -> list[tuple[Any, ...]]:
    return [(j.pk, j.title, j.commit_deadline, j.house, j.deployed) for j in jobs]


def test_a_prepared_query_gives_what_the_queryset_gives_for_any_values(customer: User) -> None:
    first, second, third = (
        factories.JobFactory.create(created_by=customer, title=f"Part {n}") for n in range(3)
    )
    _deploy(31337, "AuctionHouse", "0x" + "ab" * 20)
    _deploy(31337, "Part 1", "0x" + "cd" * 20)
    _deploy(5, "AuctionHouse", "0x" + "ef" * 20)
    for chain, jobs in (
        (31337, [first.pk, second.pk]),
        (5, [second.pk, third.pk]),  # the same shape, other values
        (31337, [first.pk, second.pk, third.pk]),  # another shape
        (1, [third.pk]),
    ):
        assert _seen(JOBS(chain=chain, jobs=jobs)) == _seen(list(_jobs(chain, jobs)))
    [job] = JOBS(chain=31337, jobs=[second.pk])
    assert job.deployed is True and job.house == "0x" + "ab" * 20
    assert job.get_deferred_fields() >= {"status", "description"}
    assert job.commit_deadline.tzinfo is not None
    assert JOBS(chain=31337, jobs=[]) == []
    assert TITLES(title="Part 2") == [third.pk]
    assert TITLES(title="Part 9") == []


def test_it_compiles_once_per_shape_and_runs_one_statement(customer: User) -> None:
    jobs = [factories.JobFactory.create(created_by=customer).pk for _ in range(3)]
    JOBS(chain=1, jobs=jobs[:2])
    with CaptureQueriesContext(connection) as queries:
        assert len(JOBS(chain=2, jobs=jobs[1:])) == 2
    assert len(queries) == 1
    (kept,) = [
        compiled for shape, compiled in JOBS._local.kept.items() if ("jobs", 2, "int") in shape
    ]
    # Bound, not written: the ids and the chain each take a parameter of their own.
    assert [slot for slot in kept.slots if slot[0] is not None] == [
        ("chain", None),
        ("chain", None),
        ("jobs", 0),
        ("jobs", 1),
    ]


def test_the_locking_clause_is_the_connections_own(customer: User) -> None:
    job = factories.JobFactory.create(created_by=customer, title="Bracket")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert LOCKED(job=job.pk) == [(job.pk, "Bracket")]
    locks = "FOR UPDATE" in queries[-1]["sql"]
    assert locks is connection.features.has_select_for_update


def test_queries_run_together_give_what_each_gives_alone_in_order(customer: User) -> None:
    first, second = (
        factories.JobFactory.create(created_by=customer, title=f"Part {n}") for n in range(2)
    )
    alone = (LOCKED(job=first.pk), _seen(JOBS(chain=1, jobs=[first.pk, second.pk])))
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked, jobs, nothing, titles = together(
            LOCKED.bind(job=first.pk),
            JOBS.bind(chain=1, jobs=[first.pk, second.pk]),
            JOBS.bind(chain=1, jobs=[]),  # an empty `__in`: no SQL, no rows
            TITLES.bind(title="Part 1"),
        )
    assert (locked, _seen(jobs)) == alone
    assert nothing == [] and titles == [second.pk]
    # Each statement logged, in the order given (on PostgreSQL all sent in one round trip).
    assert len(queries) == 3
    assert ("FOR UPDATE" in queries[0]["sql"]) is connection.features.has_select_for_update
    assert '"marketplace_job"."title" = ' in queries[2]["sql"]


# Divides by zero when it runs: an error only the database finds.
BROKEN = Prepared(
    lambda job: Job.objects.filter(pk=job).annotate(z=F("pk") / Value(0)).values_list("z")
)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite divides by zero to NULL")
def test_an_error_of_a_query_run_together_is_djangos_and_the_connection_goes_on(
    customer: User,
) -> None:
    job = factories.JobFactory.create(created_by=customer, title="Bracket")
    with pytest.raises(DataError, match="division by zero"), transaction.atomic():
        together(LOCKED.bind(job=job.pk), BROKEN.bind(job=job.pk))
    # Out of pipeline mode, in a usable transaction: the next queries run as usual.
    assert LOCKED(job=job.pk) == [(job.pk, "Bracket")]
    with transaction.atomic():
        assert together(TITLES.bind(title="Bracket"), LOCKED.bind(job=job.pk)) == (
            [job.pk],
            [(job.pk, "Bracket")],
        )


def _refused(run: Any) -> bool:
    try:
        run()
    except TransactionManagementError:
        return True
    return False


@pytest.mark.django_db(transaction=True)
def test_a_locking_query_outside_a_transaction_is_refused_as_the_orm_refuses_it() -> None:
    orm = _refused(lambda: list(Job.objects.select_for_update().filter(pk=1)))
    assert _refused(lambda: LOCKED(job=1)) is orm is connection.features.has_select_for_update
    both = lambda: together(TITLES.bind(title="x"), LOCKED.bind(job=1))  # noqa: E731
    assert _refused(both) is orm


@pytest.mark.parametrize(
    "build",
    [
        lambda job: Job.objects.filter(pk=job).select_related("created_by"),
        lambda job: Job.objects.filter(pk=job).prefetch_related("files"),
        lambda job: Job.objects.filter(pk=job).values("pk"),
        # The ORM binds "%value%": not the value.
        lambda job: Job.objects.filter(title__contains=job),
    ],
    ids=["select_related", "prefetch", "values", "transformed"],
)
def test_a_query_it_cannot_bind_faithfully_is_refused(build: Any) -> None:
    with pytest.raises(ValueError, match="prepared"):
        Prepared(build)(job=1)


def test_only_ints_and_strings_are_taken_each_compiled_as_itself(customer: User) -> None:
    job = factories.JobFactory.create(created_by=customer, title="7")
    for wrong in (timezone.now() - timedelta(days=1), None, True, [1, None]):
        with pytest.raises(TypeError):
            TITLES(title=wrong)  # type: ignore[arg-type]
    assert TITLES(title="7") == [job.pk]
    with pytest.raises((TypeError, ValueError)):  # strings for an integer column: refused
        JOBS(chain=1, jobs=["x"])
