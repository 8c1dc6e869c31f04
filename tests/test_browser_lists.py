"""Every list a manager uses, at a desktop's width and a tablet's (800 px): nothing runs off the
page sideways, the columns stay readable, the buttons above a list leave its title alone, and
no page asks for anything that is not there (no 404, not even the favicon)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.browser_support import DESKTOP, TABLET, log_in, make_manager
from tests.conftest import receive_call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = [
    ("deliveries", "admin:notifications_delivery_changelist"),
    ("events", "admin:notifications_inboundevent_changelist"),
    ("accounts", "admin:mindbox_integration_account_changelist"),
    ("integrations", "admin:mindbox_integration_mindboxintegration_changelist"),
    ("operations", "admin:mindbox_integration_operation_changelist"),
    ("notifications", "admin:mindbox_integration_notification_changelist"),
    ("changes", "admin:mindbox_integration_configchange_changelist"),
]
NARROWEST_COLUMN = 60  # px: below this a header's words break letter by letter
SCROLLER_WIDTH = 400  # px: a table scrolled inside a box at least this wide is still readable

LONG_ERROR = (
    "Mindbox answered 400 ValidationError: customer.mobilePhone: Номер телефона указан в неверном формате; "
    "customer.email: Адрес электронной почты указан в неверном формате; " * 3
)


def an_account_with_a_history(make_account, make_notification):
    """An account whose log has something of everything: delivered, failed with long errors,
    pending; two operations, notifications, events, and the audit log of its set-up."""
    from notifications.models import Delivery

    account = make_account(name="Альфа-Сервис Северо-Западный филиал")
    make_notification(account, name="Входящие звонки с сайта и из рекламы")
    make_notification(account, operation="ZvonokPropushchennyi", name="Пропущенные звонки")
    for n in range(6):
        receive_call(account, f"900{n}", visitor_name=f"Посетитель с очень длинным именем {n}")
    deliveries = list(Delivery.objects.filter(event__account=account).order_by("pk"))
    assert len(deliveries) == 12
    now = timezone.now()
    for n, delivery in enumerate(deliveries):
        if n % 3 == 0:
            delivery.status, delivery.attempts, delivery.last_error = "failed", 4, f"{n}: {LONG_ERROR}"
        elif n % 3 == 1:
            delivery.status, delivery.attempts, delivery.finished_at = "delivered", 1, now
        delivery.save()
    return account


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def check_fits(page, name: str) -> None:
    """The page does not scroll sideways; the table's columns are readable, or it scrolls in a
    box of its own that is wide enough to read; the object tools leave the title alone."""
    width = page.evaluate("window.innerWidth")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow} px"
    table = page.locator("#result_list")
    assert table.count() == 1, f"{name}: no results table"
    headers = table.locator("thead th").evaluate_all(
        "els => els.filter(e => !e.classList.contains('action-checkbox-column'))"
        ".map(e => [e.textContent.trim(), e.getBoundingClientRect().width])"
    )
    narrow = [(text, round(w)) for text, w in headers if w < NARROWEST_COLUMN]
    scroller = table.evaluate(
        """t => {
            for (let e = t.parentElement; e && e !== document.body; e = e.parentElement) {
                const style = getComputedStyle(e);
                if (['auto', 'scroll'].includes(style.overflowX)) return e.getBoundingClientRect().width;
            }
            return 0;
        }"""
    )
    assert not narrow or scroller >= SCROLLER_WIDTH, f"{name}: columns too narrow {narrow}, scroller {scroller} px"
    # The table, or the box it scrolls in, is on the page: its right edge within the window.
    box = table.evaluate(
        """t => {
            let e = t;
            for (let p = t.parentElement; p && p !== document.body; p = p.parentElement) {
                if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) { e = p; break; }
            }
            const r = e.getBoundingClientRect();
            return {x: r.x, width: r.width};
        }"""
    )
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{name}: the table runs off at {box}"
    assert box["width"] >= SCROLLER_WIDTH if width <= TABLET["width"] else box["width"] >= 600, f"{name}: {box}"
    # The title's words (its block runs the page's width; Django floats the tools into its end).
    title = page.locator("#content > h1").evaluate(
        """h1 => {
            const range = document.createRange();
            range.selectNodeContents(h1);
            const r = range.getBoundingClientRect();
            return {x: r.x, y: r.y, width: r.width, height: r.height};
        }"""
    )
    assert title["width"] > 0, name
    for tool in page.locator(".object-tools li").all():
        tool_box = tool.bounding_box()
        assert tool_box is not None and not overlaps(title, tool_box), f"{name}: {tool_box} covers the title {title}"
        assert tool_box["x"] + tool_box["width"] <= width, f"{name}: the button runs off at {tool_box}"


def test_every_list_a_manager_uses_fits_a_tablet_and_a_desktop(
    page, shot, live_server, make_account, make_notification
):
    account = an_account_with_a_history(make_account, make_notification)
    make_manager(account)
    not_found: list[str] = []
    page.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
    log_in(page, live_server.url, "manager")
    for size_name, size in (("tablet", TABLET), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        for name, url_name in LISTS:
            page.goto(reverse(url_name))
            rows = page.locator("#result_list tbody tr")
            assert rows.count() >= 1, name
            check_fits(page, f"{name} at {size_name}")
            shot(page, f"{name}-{size_name}")
    # The delivery log's resend page, reached from its object tools, fits as well.
    page.set_viewport_size(TABLET)
    page.goto(reverse("admin:notifications_delivery_changelist"))
    page.locator(".object-tools a.resend-failed-link").click()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "resend-failed-tablet")
    assert not not_found, f"404 for {not_found}"


def test_the_sidebar_is_collapsed_on_a_tablet_and_opens_on_request(page, shot, live_server, make_account):
    account = make_account(name="Alpha")
    make_manager(account)
    log_in(page, live_server.url, "manager")
    page.set_viewport_size(TABLET)
    page.goto(reverse("admin:mindbox_integration_account_changelist"))
    sidebar = page.locator("#nav-sidebar")
    assert not sidebar.is_visible()
    table = page.locator("#result_list").bounding_box()
    assert table is not None and table["width"] >= 600
    # Opened by its toggle, it is there (over the list or beside it, the page still not sideways).
    page.locator("#toggle-nav-sidebar").click()
    assert sidebar.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "sidebar-open-tablet")
    # Remembered as Django remembers it: open on the next page, and closed again by the toggle.
    page.reload()
    assert sidebar.is_visible()
    page.locator("#toggle-nav-sidebar").click()
    assert not sidebar.is_visible()
    page.reload()
    assert not sidebar.is_visible()
    # On a desktop, with nothing remembered, it is open as Django has it.
    page.evaluate("localStorage.removeItem('django.admin.navSidebarIsOpen')")
    page.set_viewport_size(DESKTOP)
    page.reload()
    assert sidebar.is_visible()
    shot(page, "sidebar-desktop")


def test_no_view_site_link_to_a_missing_page_and_no_404_for_the_favicon(page, shot, live_server, make_account):
    account = make_account(name="Alpha")
    make_manager(account)
    responses: list[tuple[int, str]] = []
    page.on("response", lambda r: responses.append((r.status, r.url)))
    log_in(page, live_server.url, "manager")
    page.goto(reverse("admin:index"))
    page.wait_for_load_state("networkidle")
    # Nothing links to the site's root, which is no page of the portal's.
    assert page.locator("#user-tools a[href='/']").count() == 0
    assert page.locator("#user-tools").inner_text().find("Открыть сайт") == -1
    icon = page.locator("link[rel~='icon']")
    assert icon.count() == 1
    assert page.evaluate("fetch(document.querySelector(\"link[rel~='icon']\").href).then(r => r.status)") == 200
    assert [(status, url) for status, url in responses if status >= 400] == []
    shot(page, "index-header")
