"""The files that deploy the portal stay valid."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_is_valid():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_env_example_lists_every_setting_the_settings_read():
    settings_text = (ROOT / "integration_portal" / "settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_text)) | set(
        re.findall(r'_seconds_list\(\s*"([A-Z_]+)"', settings_text)
    )
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.M))
    assert read, "no settings found: the pattern no longer matches settings.py"
    assert read - listed == set()


def test_migrations_are_committed_for_every_model_change():
    result = subprocess.run(
        [os.sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_process_with_health_checks_and_migrates_once():
    import yaml

    text = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    ).stdout
    services = yaml.safe_load(text)["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "proxy", "worker", "beat", "flower"}
    # Only the buffering proxy is published (on loopback); gunicorn is reached through it.
    assert "ports" not in services["web"]
    assert [str(p).split(":")[0] for p in services["proxy"]["ports"]] == ["127.0.0.1"]
    assert services["proxy"]["environment"]["PORTAL_UPSTREAM"] == "web:8000"
    assert any("deploy/nginx" in str(v) for v in services["proxy"]["volumes"])
    for name in ("db", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["migrate"]["restart"] == "no" and "migrate" in services["migrate"]["command"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert "migrate" not in str(services[name]["command"]), name
    # web and worker share the counters' directory, so /metrics sees the workers' counters.
    metrics_dir = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("web", "worker"):
        assert any(v.endswith(metrics_dir) or metrics_dir in str(v) for v in services[name]["volumes"]), name


def test_image_runs_as_a_user_with_static_files_collected():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.11-slim")
    assert "collectstatic" in dockerfile
    assert "\nUSER portal" in dockerfile
