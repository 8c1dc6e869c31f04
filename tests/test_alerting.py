"""The alert rules and the dashboard (deploy/prometheus, deploy/grafana): Prometheus's own tool
checks the rules and proves each alert fires on its series, and every metric they name is in a
real /metrics scrape, so no rule or panel points at nothing."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from notifications.models import Delivery
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "portal-dashboard.json"
REQUIRED_ALERTS = {
    "PortalDeliveryBacklog",
    "PortalDeliveryFailureRateHigh",
    "PortalIntegrationsPaused",
    "PortalDatabaseDown",
    "PortalNoEvents",
    "PortalBeatSilent",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120)


def alert_rules() -> list[dict[str, str]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in re.findall(r"\bportal_[a-z_]+\b", expr)}


def test_promtool_checks_the_rules_and_the_scrape_config():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout
    config = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_on_its_series():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    # Every alert the rules define has a case in the unit tests, and the six are there.
    names = {rule["alert"] for rule in alert_rules()}
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    covered = {case["alertname"] for test in cases for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert names >= REQUIRED_ALERTS
    assert names - covered == set()


def test_a_rule_that_names_no_real_series_fails_its_unit_test(tmp_path):
    """The unit tests can fail: a misspelt metric in a rule leaves its alert silent."""
    (tmp_path / "alerts.yml").write_text(
        (PROMETHEUS / "alerts.yml").read_text().replace("portal_integrations_paused >", "portal_integration_paused >")
    )
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    tested = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert tested.returncode != 0 and "PortalIntegrationsPaused" in tested.stdout + tested.stderr


def test_the_dashboard_reads_prometheus_through_its_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job"} <= variables
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all('job="$job"' in t["expr"] for t in panel["targets"]), panel["title"]
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    for path in provisioning.rglob("*.yml"):
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1, path


@pytest.mark.django_db(transaction=True)
def test_every_metric_the_rules_and_the_dashboard_name_is_in_a_real_scrape(
    celery_worker, live_server, mindbox, make_account, make_notification
):
    account = make_account()
    make_notification(account)
    # An event received and delivered by the worker: the counters and histograms have samples.
    response = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
        json={"call_session_id": "7790001", "notification_mnemonic": "call_finished", "visitor_name": "Анна"},
        timeout=10,
    )
    assert response.status_code == 202
    wait_for(lambda: Delivery.objects.get(event_id=response.json()["event_id"]).status == Delivery.Status.DELIVERED)

    def scraped() -> set[str]:
        scrape = requests.get(f"{live_server.url}/metrics", timeout=10)
        assert scrape.status_code == 200
        return {sample.name for family in text_string_to_metric_families(scrape.text) for sample in family.samples}

    rules = metric_names([rule["expr"] for rule in alert_rules()])
    panels = metric_names(dashboard_exprs())
    assert {"portal_beat_heartbeat_age_seconds", "portal_last_event_age_seconds"} <= rules
    assert len(panels) >= 10
    # The worker's counters reach the shared directory once its batch is done.
    names = wait_for(lambda: (names := scraped()) and "portal_attempt_duration_seconds_bucket" in names and names)
    assert rules - names == set()
    assert panels - names == set()
