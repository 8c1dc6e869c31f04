"""The files that deploy the portal stay valid."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")


def compose_config(directory: Path, *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` of the shipped file in `directory`, where an operator's .env sits."""
    return subprocess.run(
        ["docker-compose", "-f", str(directory / "docker-compose.yml"), "config", *(["-q"] if quiet else [])],
        capture_output=True,
        text=True,
        cwd=directory,
        env={k: v for k, v in os.environ.items() if k not in COMPOSE_SUBSTITUTED},
        timeout=60,
    )


# Names compose substitutes from the environment: the suite's own (DATABASE_URL, REDIS_URL) must not
# leak into the rendered file.
COMPOSE_SUBSTITUTED = {"DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "PYTHONPATH"}


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    """The compose file with .env.example copied to .env, as the README tells an operator."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


def rendered_services(directory: Path) -> dict[str, Any]:
    result = compose_config(directory)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["services"])


def test_compose_file_is_valid(deployment):
    result = compose_config(deployment, quiet=True)
    assert result.returncode == 0, result.stderr


def test_compose_needs_the_operators_env_file(tmp_path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    result = compose_config(tmp_path, quiet=True)
    assert result.returncode != 0 and ".env" in result.stderr


def settings_read() -> set[str]:
    """Every environment variable the settings, the web server and gunicorn.conf.py read."""
    read: set[str] = set()
    for path in (
        ROOT / "integration_portal" / "settings.py",
        ROOT / "integration_portal" / "web.py",
        ROOT / "gunicorn.conf.py",
    ):
        text = path.read_text()
        read |= set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'_seconds_list\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'os\.getenv\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'_int\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'os\.environ\[\s*"([A-Z_]+)"\s*\](?!\s*=[^=])', text))
    return read


def test_env_example_lists_every_setting_the_settings_read():
    example = (ROOT / ".env.example").read_text()
    read = settings_read()
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.M))
    assert {"DJANGO_SECRET_KEY", "GUNICORN_TIMEOUT", "REQUIRE_SECRETS", "BEAT_SCHEDULER", "WEB_THREADS"} <= read, (
        "the patterns no longer match settings.py, web.py or gunicorn.conf.py"
    )
    assert read - listed == set()


def test_every_app_container_gets_every_setting(deployment):
    services = rendered_services(deployment)
    needed = settings_read()
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert needed - set(environment) == set(), name
        assert environment["REQUIRE_SECRETS"] == "true", name
        # The containers find each other by service name, and share the counters' directory.
        assert environment["DATABASE_URL"] == "postgres://portal:portal@db:5432/portal", name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/app/var/metrics", name
    # Production values where .env.example leaves them commented (the local defaults differ).
    web = services["web"]["environment"]
    assert (web["DJANGO_HTTPS"], web["TRUSTED_PROXY_COUNT"], web["LOG_FORMAT"]) == ("true", "1", "json")
    assert web["WEB_BIND"] == web["GUNICORN_BIND"] == "0.0.0.0:8000"


def test_the_operators_env_wins_over_composes_defaults(deployment):
    env = deployment / ".env"
    env.write_text(
        env.read_text().replace("# DJANGO_HTTPS=false", "DJANGO_HTTPS=false")
        + "\nDATABASE_URL=postgres://portal:secret@db.example.internal:5432/portal\nMINDBOX_READ_TIMEOUT=7\n"
    )
    worker = rendered_services(deployment)["worker"]["environment"]
    assert worker["DJANGO_HTTPS"] == "false"
    assert worker["DATABASE_URL"] == "postgres://portal:secret@db.example.internal:5432/portal"
    assert worker["MINDBOX_READ_TIMEOUT"] == "7"


def test_migrations_are_committed_for_every_model_change():
    result = subprocess.run(
        [os.sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_process_with_health_checks_and_migrates_once(deployment):
    services = rendered_services(deployment)
    assert set(services) == {"db", "redis", "migrate", "web", "proxy", "worker", "beat", "flower"}
    # Only the buffering proxy is published (on loopback); the web server is reached through it.
    assert "ports" not in services["web"]
    assert [str(p).split(":")[0] for p in services["proxy"]["ports"]] == ["127.0.0.1"]
    assert services["proxy"]["environment"]["PORTAL_UPSTREAM"] == "web:8000"
    assert any("deploy/nginx" in str(v) for v in services["proxy"]["volumes"])
    for name in ("db", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], name
    assert services["beat"]["healthcheck"]["test"][-2:] == ["manage.py", "beat_health"]
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


def service_argv(command: str | list[str]) -> list[str]:
    """A compose command as this machine runs it: the suite's interpreter for python, celery, gunicorn."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [sys.executable, "-m", *argv]


def test_no_app_container_starts_without_its_own_secret_key_and_encryption_key(deployment, tmp_path):
    """Each app service's own command, with the environment compose gives it from a .env copied
    from .env.example (the development secret key, no encryption key): each exits, saying what to set."""
    services = rendered_services(deployment)
    runs = {}
    for name in APP_SERVICES:
        service = services[name]
        base = {
            **service["environment"],
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        for missing, env in (
            ("DJANGO_SECRET_KEY", base),
            ("FIELD_ENCRYPTION_KEY", {**base, "DJANGO_SECRET_KEY": "a-secret-of-the-operators-own-" + "x" * 30}),
        ):
            runs[name, missing] = subprocess.Popen(
                service_argv(service["command"]),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
    for (name, missing), run in runs.items():
        output, _ = run.communicate(timeout=120)
        assert run.returncode != 0, (name, missing, output)
        assert f"{missing} must be set" in output, (name, missing, output)


def test_flower_refuses_to_start_without_a_login(deployment):
    flower = rendered_services(deployment)["flower"]
    script = flower["command"][0].replace("$$", "$")  # `config` keeps compose's escape; `up` undoes it
    assert "--basic-auth" not in script  # Flower reads FLOWER_BASIC_AUTH itself: no password in the process list
    assert "FLOWER_BASIC_AUTH" in flower["environment"]  # where Flower reads its login from
    assert flower["entrypoint"] == ["/bin/sh", "-c"]
    # Its guard, run by sh as in the container (the exec of Flower itself is never reached here).
    refused = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": os.environ["PATH"], "FLOWER_BASIC_AUTH": "", "CELERY_BROKER_URL": "redis://redis:6379/0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 1
    assert "FLOWER_BASIC_AUTH must be set" in refused.stderr
    # With a login the guard lets it through to Flower itself (absent from this machine: 127).
    let_through = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": os.environ["PATH"], "FLOWER_BASIC_AUTH": "ops:pw", "CELERY_BROKER_URL": "redis://redis:6379/0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert let_through.returncode == 127 and "must be set" not in let_through.stderr
