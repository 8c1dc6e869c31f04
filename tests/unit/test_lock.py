"""The lock files (`make lock`) hold every dependency pyproject.toml declares, at a version it
allows, each with its hashes; the image installs from them. A dependency added or narrowed in
pyproject.toml without locking again fails here, not in an image build."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


def locked(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) of each pin in a uv/pip-compile lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (Version(match[2]), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


@pytest.mark.parametrize(("lock", "extras"), [("requirements.txt", ()), ("requirements-dev.txt", ("dev",))])
def test_every_declared_dependency_is_locked_at_an_allowed_version_with_hashes(lock, extras):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in extras for r in project["optional-dependencies"][extra]]
    pins = locked(ROOT / lock)
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in {lock}: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {requirement.name} {version}, outside pyproject.toml's {requirement.specifier}: run `make lock`"
        )
    assert all(hashes for _, hashes in pins.values()), f"a pin in {lock} has no hash: run `make lock`"


def test_the_image_installs_the_lock_with_its_hashes_and_the_project_without_dependencies():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile


def test_the_stubs_are_those_of_the_django_in_use():
    pins = locked(ROOT / "requirements-dev.txt")
    django, stubs = pins["django"][0], pins["django-stubs"][0]
    assert (stubs.major, stubs.minor) == (django.major, django.minor)
