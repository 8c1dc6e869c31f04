"""The trouble checks on their own (notifications.trouble: pure, no database): each kind, the
account's own rhythm for silence, nothing for a switched-off integration, and which state the
e-mails follow."""

from datetime import UTC, datetime, timedelta

from notifications.trouble import Facts, Kind, Limits, alert_state, troubles

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LIMITS = Limits(failures=20, backlog=timedelta(minutes=10), silent_window=timedelta(hours=1), silent_min_events=10)


def facts(**values) -> Facts:
    return Facts(integration_id=1, account_id=1, account_name="Acme", uis_app_id="1", active=True, **values)


def kinds(found: Facts) -> list[str]:
    return [trouble.kind for trouble in troubles(found, LIMITS, NOW)]


def test_a_healthy_integration_has_no_trouble():
    assert (
        kinds(facts(failures=19, oldest_due_at=NOW - timedelta(minutes=9), recent_events=1, events_week_ago=50)) == []
    )


def test_each_kind_at_its_threshold():
    assert kinds(facts(paused_at=NOW)) == [Kind.PAUSED]
    assert kinds(facts(backoff_until=NOW + timedelta(seconds=5))) == [Kind.BACKING_OFF]
    assert kinds(facts(backoff_until=NOW)) == []  # the back-off is over
    assert kinds(facts(failures=20)) == [Kind.FAILING]
    assert kinds(facts(oldest_due_at=NOW - timedelta(minutes=10))) == [Kind.BACKLOG]
    assert kinds(facts(events_week_ago=10)) == [Kind.SILENT]


def test_silence_is_trouble_only_where_the_same_hour_a_week_ago_was_busy():
    assert kinds(facts(events_week_ago=9)) == []  # a quiet hour (a night, a Sunday) stays quiet
    assert kinds(facts(recent_events=1, events_week_ago=500)) == []  # one event is enough


def test_a_paused_integration_is_not_also_backing_off_and_troubles_come_most_urgent_first():
    found = facts(paused_at=NOW, backoff_until=NOW + timedelta(minutes=1), failures=30, events_week_ago=10)
    assert kinds(found) == [Kind.PAUSED, Kind.FAILING, Kind.SILENT]


def test_a_switched_off_integration_is_never_in_trouble():
    off = Facts(integration_id=1, account_id=1, account_name="Acme", uis_app_id="1", active=False, paused_at=NOW)
    assert troubles(off, LIMITS, NOW) == []
    assert alert_state(off, []) == "off"


def test_the_mails_follow_a_pause_before_failures_and_nothing_else():
    def state(found: Facts) -> str:
        return alert_state(found, troubles(found, LIMITS, NOW))

    assert state(facts(paused_at=NOW, failures=30)) == "paused"
    assert state(facts(failures=30)) == "failing"
    assert state(facts(oldest_due_at=NOW - timedelta(hours=1), events_week_ago=99)) == "ok"


def test_once_told_failing_it_takes_half_the_threshold_to_be_fine_again():
    assert kinds(facts(failures=19)) == []  # under the threshold: fine
    assert kinds(facts(failures=19, told_failing=True)) == [Kind.FAILING]  # hovering: still failing
    assert kinds(facts(failures=10, told_failing=True)) == [Kind.FAILING]  # half is not below half
    assert kinds(facts(failures=9, told_failing=True)) == []
    assert kinds(facts(failures=20, told_failing=True)) == [Kind.FAILING]
