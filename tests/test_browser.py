"""The account manager's admin in a real browser (Debian's Chromium through Playwright): the
walk a manager takes, with a screenshot of each step under var/test-artifacts/browser/."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import TABLET, log_in, make_manager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_logs_in_through_the_login_page_and_sees_only_their_account(page, shot, live_server, make_account):
    mine = make_account(name="Alpha", active=False)
    make_account(name="Beta", active=False)
    make_manager(mine)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    shot(page, "login-page")
    log_in(page, live_server.url, "manager")
    shot(page, "index")
    page.get_by_role("link", name="Аккаунты").first.click()
    expect(page.locator("#result_list")).to_contain_text("Alpha")
    expect(page.locator("#result_list")).not_to_contain_text("Beta")
    shot(page, "accounts")
    page.set_viewport_size(TABLET)
    shot(page, "accounts-tablet")
