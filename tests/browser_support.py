"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live
server, a manager logged in through the real login page, and a screenshot of every step under
var/test-artifacts/browser/<test>/. A missing Chromium fails the test: it never skips."""

import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from mindbox_integration import tenancy
from mindbox_integration.models import Account

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")  # Debian's package
MANAGER_PASSWORD = "manager-pass-31415"  # a test user's
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 800, "height": 1100}


def chromium_executable() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: install Debian's chromium package "
            "(`make test` and .ci/run do: apt-get install chromium)",
            pytrace=False,
        )
    return CHROMIUM


@dataclass
class Shots:
    """shot(page, "name") saves NN-name.png in the test's own folder, in the order taken."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    def __call__(self, page, name: str) -> Path:  # page: playwright.sync_api.Page
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


def shots_for(nodeid: str) -> Shots:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder=folder)


def make_manager(account: Account, username: str = "manager") -> User:
    """A staff user in the "Account managers" group, assigned to the account."""
    user = User.objects.create_user(username=username, password=MANAGER_PASSWORD, is_staff=True)
    user.groups.add(tenancy.ensure_managers_group())
    account.managers.add(user)
    return user


def log_in(page, base_url: str, username: str, password: str = MANAGER_PASSWORD) -> None:
    """Through the real login page, as a person does."""
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.get_by_label(re.compile("Имя пользователя|Username")).fill(username)
    page.get_by_label(re.compile("Пароль|Password")).fill(password)
    page.get_by_role("button", name=re.compile("Войти|Log in")).click()
    page.wait_for_url(f"{base_url}/admin/")


Shot = Callable[..., Path]

# Origins a browser test's pages may load from: the live server's, and stand-ins a test adds.
ALLOWED_ORIGINS = pytest.StashKey[list[str]]()


class StaticSite:
    """One HTML page served on its own origin (another port): a client's site, for the site
    script. Serves `html` at every path until closed."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
