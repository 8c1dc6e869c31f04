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
