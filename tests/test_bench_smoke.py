"""The benchmark's code keeps working: a tiny run through the real processes. It asserts what
was measured is there and sane, never how fast (speed is for `make bench`)."""

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


def test_a_small_bench_run_measures_every_section(lab, tmp_path, monkeypatch):
    results = bench.run(lab, bench.SMOKE, log=lambda line: None)
    s = results.sections
    assert set(s) == {"rendering", "ingest", "delivery", "end_to_end", "backlog"}
    assert s["ingest"]["events_per_s"] > 0 and s["ingest"]["p99_ms"] >= s["ingest"]["p50_ms"] > 0
    assert (
        s["end_to_end"]["events"] == s["end_to_end"]["delivered"] == 20
        and s["end_to_end"]["p99_ms"] >= s["end_to_end"]["p50_ms"] > 0
    )
    assert s["delivery"]["deliveries"] == 20 and s["delivery"]["per_s"] > 0
    assert s["rendering"]["bodies_per_s"] > 0 and s["rendering"]["json_dumps_per_s"] > 0
    assert s["backlog"]["deliveries"] == 40 and s["backlog"]["rss_peak_mib"] > 0
    assert results.machine["cpus"] and results.machine["python"]
    table = bench.format_table(results)
    assert "end to end at 20/s" in table and "backlog of 40" in table

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    saved = json.loads(bench.save(results).read_text())
    assert saved["sections"] == json.loads(json.dumps(s))
