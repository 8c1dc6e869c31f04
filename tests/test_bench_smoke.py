"""The benchmark's code keeps working: a tiny run through the real processes, with `wrk` (which
`make test` installs). It asserts what was measured is there and sane, never how fast (speed is
for `make bench`)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import bench, faults
from tests.conftest import suite_database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab(django_db_setup: None) -> Iterator[faults.Lab]:
    log_dir = ROOT / "var" / "test-bench"
    with faults.Lab(database_url=suite_database_url(), log_dir=log_dir, delay=0.0, extra_env=bench.BENCH_ENV) as lab:
        yield lab


def sane_cost(section: dict, *, worker: bool) -> None:
    """Every group is reported, none negative; the total is their sum; work shows where it ran."""
    assert set(section["cpu_ms"]) == set(bench.COUNTED) and set(section["apart_ms"]) == set(bench.APART)
    assert all(value >= 0 for value in [*section["cpu_ms"].values(), *section["apart_ms"].values()])
    assert section["cpu_ms_total"] == pytest.approx(sum(section["cpu_ms"].values()), abs=0.01)
    assert section["cpu_ms_total"] > 0
    assert (section["cpu_ms"]["worker"] > 0) == worker


def test_a_small_bench_run_measures_every_section(lab, tmp_path, monkeypatch):
    results = bench.run(lab, bench.SMOKE, log=lambda line: None)
    s = results.sections
    assert set(s) == {
        "rendering",
        "bare_healthz",
        "bare_middleware",
        "ingest",
        "ingest_gunicorn",
        "drain",
        "cost",
        "drain_two_workers",
        "paced",
        "backlog",
    }

    for ingest in (s["ingest_gunicorn"], s["ingest"]):  # under gunicorn, then the web server's
        assert ingest["connections"] == 4 and ingest["events"] > 0 and ingest["events_per_s"] > 0
        # Requests wrk gave up on at its end may still be stored: never fewer than the 202s it saw.
        assert ingest["wrk_2xx"] <= ingest["events"] <= ingest["wrk_2xx"] + ingest["connections"]
        assert ingest["wrk_not_2xx"] == 0 and ingest["deliveries"] == ingest["events"]
        assert ingest["p99_ms"] >= ingest["p50_ms"] > 0
        sane_cost(ingest, worker=False)
        assert ingest["cpu_ms"]["web"] > 0 and ingest["apart_ms"]["load generator"] > 0

    for key, workers in (("drain", 1), ("drain_two_workers", 2)):
        drained = s[key]
        assert drained["workers"] == workers and drained["complete"]
        assert drained["deliveries"] == ingest["deliveries"] and drained["measured"] <= drained["deliveries"]
        # In this tiny run the first of two workers to be ready may send everything before the
        # second is, and the measurement starts once both are: nothing is left to measure then
        # (the real bench's thousands of deliveries leave plenty). One worker always measures.
        if workers == 1 or drained["measured"]:
            assert drained["measured"] > 0 and drained["per_s"] > 0
            sane_cost(drained, worker=True)

    cost = s["cost"]
    assert cost["deliveries_per_event"] == 1
    assert cost["cpu_ms_total"] == pytest.approx(ingest["cpu_ms_total"] + s["drain"]["cpu_ms_total"], abs=0.01)
    assert cost["ceiling_events_per_s"] == pytest.approx(cost["cores"] * 1000 / cost["cpu_ms_total"], rel=0.01)

    for key, path in (("bare_healthz", "/healthz"), ("bare_middleware", "/bench/no-such-page/")):
        assert s[key]["path"] == path and s[key]["requests"] > 0 and s[key]["per_s"] > 0
        sane_cost(s[key], worker=False)
    assert s["bare_healthz"]["status_2xx"] == s["bare_healthz"]["requests"]
    assert s["bare_middleware"]["status_2xx"] == 0  # every one a 404

    paced = s["paced"]
    assert paced["events"] == paced["delivered"] == 20 and paced["complete"] and paced["refused"] == 0
    assert paced["p99_ms"] >= paced["p95_ms"] >= paced["p50_ms"] > 0 and paced["sent_per_s"] > 0
    # The warm-up went first, at the same rate, and is reported apart.
    assert paced["warm_up_p99_ms"] >= paced["warm_up_p50_ms"] > 0
    sane_cost(paced, worker=True)

    assert s["rendering"]["bodies_per_s"] > 0 and s["rendering"]["json_dumps_per_s"] > 0
    assert s["backlog"]["deliveries"] == s["backlog"]["delivered"] == 40 and s["backlog"]["rss_peak_mib"] > 0
    assert results.machine["cpus"] and results.machine["python"] and results.machine["load_average_at_end"]

    table = bench.format_table(results)
    print("\n" + table)
    assert "paced end to end at 20/s" in table and "after 0.5 s of warm-up" in table and "backlog of 40" in table
    assert "server-wide" in table and "ceiling at that cost" in table
    assert "NOT MET" in table or " met" in table

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    saved = json.loads(bench.save(results).read_text())
    assert saved["sections"] == json.loads(json.dumps(s))
