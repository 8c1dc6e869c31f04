"""The site script in a real browser: a manager copies it from the integration page, a client's
site on its own origin runs it after UIS's script and Mindbox's tracker (both stood in), and the
visitor's next call reaches Mindbox (the stand-in) with the visitor's deviceUUID."""

import re

import pytest
import requests
from playwright.sync_api import expect

from notifications.models import SiteVisitor
from tests.browser_support import ALLOWED_ORIGINS, StaticSite, log_in, make_manager
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEVICE = "0b6f4e3a-9d1c-4c2e-8f7a-5e4d3c2b1a09"
VISITOR = 4242

# The client's page: Mindbox's tracker sets the device cookie; UIS's script arrives late, as the
# real one loads asynchronously; then the snippet, as the manager pasted it.
CLIENT_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Магазин</title>
<script>
  document.cookie = "mindboxDeviceUUID=%(device)s; path=/";
  setTimeout(function () {
    window.Comagic = {getCredentials: function () {
      return {site_key: "uis-site", visitor_id: %(visitor)d, session_id: 777, hit_id: 1};
    }};
  }, 1500);
</script>
%(snippet)s
</head><body><h1>Магазин</h1></body></html>"""


def test_the_site_script_links_a_visitor_whose_next_call_reaches_mindbox_with_the_device(
    page, shot, request, live_server, make_account, make_notification, mindbox, celery_worker
):
    account = make_account(name="Alpha")
    make_manager(account)
    make_notification(account, url=mindbox.url("Zvonok") + "&deviceUUID={{mindbox_device_uuid}}")

    log_in(page, live_server.url, "manager")
    page.get_by_role("link", name="Аккаунты").first.click()
    page.get_by_role("link", name=re.compile("Alpha")).click()
    page.get_by_role("link", name=re.compile("Открыть настройки")).click()
    block = page.locator("#site-script")
    expect(block.locator(".site-script-state")).to_contain_text("Пока ни один посетитель не связан")
    expect(block).to_contain_text("&deviceUUID={{mindbox_device_uuid}}")
    block.get_by_role("button", name="Копировать код для сайта").click()
    expect(block.locator(".copy-feedback")).to_contain_text("Скопировано")
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert account.site_key in snippet and f"{live_server.url}/api/site/visitors/" in snippet
    shot(page, "site-script-block")

    # The snippet on the client's site, another origin: it posts the link by itself.
    site = StaticSite(CLIENT_PAGE % {"device": DEVICE, "visitor": VISITOR, "snippet": snippet})
    request.node.stash[ALLOWED_ORIGINS].append(site.url)
    try:
        page.goto(f"{site.url}/catalog/sofas")
        link = wait_for(lambda: SiteVisitor.objects.filter(account=account).first(), timeout=20)
        shot(page, "client-site")
    finally:
        site.close()
    assert (link.visitor_id, str(link.device_uuid)) == (str(VISITOR), DEVICE)

    # UIS then posts that visitor's call; the worker sends it, with the device, to Mindbox.
    answer = requests.post(
        f"{live_server.url}/api/uis/events/calls/?token={account.inbound_token}",
        json={"call_session_id": "8801", "visitor_id": VISITOR, "visitor_name": "Анна"},
        timeout=10,
    )
    assert answer.status_code == 202
    (sent,) = wait_for(lambda: mindbox.received(operation="Zvonok"), timeout=30)
    assert sent.query["deviceUUID"] == DEVICE

    # Back on the integration page, the linked visitor is counted.
    page.go_back()
    page.reload()
    expect(page.locator("#site-script .site-script-state")).to_contain_text("1 посетитель связан")
    shot(page, "visitor-linked")
