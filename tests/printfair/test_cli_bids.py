"""`printfair bid` on several jobs: one request, each bid accepted or refused on its own, and
each salt kept before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.models import Job
from printfair import eip712
from printfair.cli.state import LocalBids
from printfair.eip712 import sign_sealed_bid
from printshops.models import Bid
from tests.printfair.conftest import Run
from tests.scenarios import chain_bid, drain


def test_bids_on_several_jobs_go_in_one_request_each_accepted_or_refused(
    shop_cli: dict[str, Any], home: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    market, address = shop_cli, shop_cli["address"]
    first, second = market["jobs"]
    bids = LocalBids(home)
    # given: a bid on both jobs
    status, out, err = run(
        "bid", str(first.pk), str(second.pk), "--price", "400", "--lead-days", "9"
    )
    assert status == 0, err
    assert f"Bid version 1 on job {first.pk}" in out and f"Bid version 1 on job {second.pk}" in out

    # when: a second version on both, and bidding on the second closes while the CLI signs
    def closing(*args: Any, **kwargs: Any) -> bytes:
        Job.objects.filter(pk=second.pk).update(commit_deadline=timezone.now())
        return sign_sealed_bid(*args, **kwargs)

    monkeypatch.setattr(eip712, "sign_sealed_bid", closing)
    status, out, err = run(
        "bid", str(first.pk), str(second.pk), "--price", "390", "--lead-days", "9"
    )

    # then: the first is replaced, the second refused, and both outcomes are kept here
    assert status == 1, err
    assert f"Bid version 2 on job {first.pk}" in out
    assert f"bid on job {second.pk} refused: Bidding on this job has closed." in err
    assert "1 of 2 bids refused" in err
    kept = {job.pk: bids.get(settings.CHAIN_ID, market["house"], job.pk) for job in (first, second)}
    versions = {pk: [(v.version, v.state) for v in bid.versions] for pk, bid in kept.items() if bid}
    assert versions == {
        first.pk: [(1, "accepted"), (2, "accepted")],
        second.pk: [(1, "accepted"), (2, "refused")],
    }
    assert dict(Bid.objects.values_list("job_id", "version")) == {first.pk: 2, second.pk: 1}
    drain()
    assert chain_bid(first.pk, address)["version"] == 2
    assert chain_bid(second.pk, address)["version"] == 1


def test_the_same_job_twice_is_a_usage_error(shop_cli: dict[str, Any], run: Run) -> None:
    job = shop_cli["jobs"][0]
    status, _, err = run("bid", str(job.pk), str(job.pk), "--price", "400", "--lead-days", "9")
    assert status == 2 and "a job is given twice" in err
    assert not Bid.objects.exists()
