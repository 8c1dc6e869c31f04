"""Every module of the portal's packages has its place in the import contracts of
pyproject.toml (checked by import-linter in `make lint`): a module that is in none of their lists
would be held to nothing, so adding one without placing it fails here."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "uis_data_api", "mindbox_integration", "notifications", "integration_portal")
# Above every contract: they may import anything (settings, the app configs, entry points).
TOP = ("integration_portal", "apps", "migrations", "management", "templatetags", "static", "templates")


def modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.add(".".join(parts))
    return found


def placed() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = set()
    for contract in config["contracts"]:
        # A whole package named as forbidden places none of its modules: only where they are named.
        forbidden = {m for m in contract.get("forbidden_modules", []) if m not in PACKAGES}
        listed |= set(contract.get("source_modules", [])) | forbidden
    return listed


def test_every_module_is_placed_in_a_contract_or_above_them():
    listed = placed()

    def is_placed(module: str) -> bool:
        parts = module.split(".")
        if parts[0] == "integration_portal" or any(part in TOP[1:] for part in parts[1:]):
            return True
        return any(module == entry or module.startswith(entry + ".") for entry in listed)

    loose = sorted(m for m in modules() if "." in m and not is_placed(m))
    assert loose == [], f"add these to a contract's list in pyproject.toml ([tool.importlinter]): {loose}"
