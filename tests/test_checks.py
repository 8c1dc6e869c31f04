"""Start-up checks refuse settings that would break the delivery guarantees."""

from notifications.checks import delivery_settings


def test_defaults_pass():
    assert delivery_settings() == []


def test_a_claim_shorter_than_a_request_is_refused(settings):
    settings.DELIVERY_CLAIM_SECONDS = 10  # 5 s connect + 15 s read by default
    (error,) = delivery_settings()
    assert error.id == "notifications.E001" and "DELIVERY_CLAIM_SECONDS (10)" in error.msg


def test_a_visibility_timeout_below_the_longest_countdown_is_refused(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
    (error,) = delivery_settings()
    assert error.id == "notifications.E002"


def test_a_database_pool_smaller_than_the_worker_threads_is_refused(settings):
    assert settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] >= settings.CELERY_WORKER_CONCURRENCY
    settings.CELERY_WORKER_CONCURRENCY = settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] + 1
    (error,) = delivery_settings()
    assert error.id == "notifications.E004" and "CELERY_WORKER_CONCURRENCY" in error.msg
