"""Inbound limits: the per-token rate limit (a token bucket in the real Redis), the body's keys and
nesting, a JSON answer on every path, and a fuzz of the endpoint through Django's test client."""

import hashlib
import json
import logging
import socket
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifications import ratelimit
from notifications.intake import IntakeError, parse_body
from notifications.models import InboundEvent

URL = "/api/uis/events/calls/"
CALL = {"call_session_id": "1", "notification_mnemonic": "call_finished", "visitor_name": "Анна"}
DOCUMENTED = {200, 202, 400, 401, 404, 405, 413, 429}


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL)


@pytest.fixture(autouse=True)
def fresh_buckets(redis_client: redis.Redis) -> None:
    """No bucket of an earlier test (127.0.0.1's, an unknown token's) carries over."""
    for key in redis_client.scan_iter(match=ratelimit.KEY_PREFIX + "*"):
        redis_client.delete(key)


@pytest.fixture
def tiny_rate(settings: Any) -> None:
    """Two requests, then one every ten seconds."""
    settings.INBOUND_RATE_PER_SECOND = 0.1
    settings.INBOUND_RATE_BURST = 2


@pytest.fixture
def account(make_account):
    return make_account()


def post(client, token: str | None = None, body: Any = CALL, **extra: Any):
    url = URL if token is None else f"{URL}?{urlencode({'token': token})}"
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data=data, content_type=extra.pop("content_type", "application/json"), **extra)


def call(n: int) -> dict[str, str]:
    return {**CALL, "call_session_id": str(n)}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the token bucket itself, against Redis


def bucket() -> str:
    return f"test:{uuid.uuid4()}"


def test_bucket_allows_a_burst_then_says_how_long_to_wait():
    key = bucket()
    assert [ratelimit.take(key=key, rate=2, burst=3, now=1000.0) for _ in range(3)] == [0, 0, 0]
    assert ratelimit.take(key=key, rate=2, burst=3, now=1000.0) == pytest.approx(0.5)
    # A refused request takes nothing, so the wait does not grow with each refusal.
    assert ratelimit.take(key=key, rate=2, burst=3, now=1000.0) == pytest.approx(0.5)


def test_bucket_refills_at_the_rate_and_no_further_than_the_burst():
    key = bucket()

    def take(now: float) -> float:
        return ratelimit.take(key=key, rate=2, burst=3, now=now)

    assert [take(1000.0) for _ in range(3)] == [0, 0, 0]
    assert take(1000.2) == pytest.approx(0.3)  # 0.4 of a token back; 0.6 to go at 2 a second
    assert take(1000.5) == 0  # a whole token back after half a second
    assert take(1000.5) == pytest.approx(0.5)
    assert take(1001.5) == 0  # two tokens back after a second
    assert take(1001.5) == 0
    assert take(1001.5) == pytest.approx(0.5)
    # After a long quiet spell: the burst, not a second more.
    assert [take(5000.0) for _ in range(3)] == [0, 0, 0]
    assert take(5000.0) == pytest.approx(0.5)


def test_a_clock_going_back_refills_nothing():
    key = bucket()
    assert ratelimit.take(key=key, rate=1, burst=1, now=1000.0) == 0
    assert ratelimit.take(key=key, rate=1, burst=1, now=900.0) == pytest.approx(1.0)
    assert ratelimit.take(key=key, rate=1, burst=1, now=1000.5) == pytest.approx(0.5)


def test_buckets_are_separate_and_expire_once_full_again(redis_client):
    a, b = bucket(), bucket()
    assert ratelimit.take(key=a, rate=1, burst=1, now=1000.0) == 0
    assert ratelimit.take(key=a, rate=1, burst=1, now=1000.0) > 0
    assert ratelimit.take(key=b, rate=1, burst=1, now=1000.0) == 0
    # Full again after a second; the key lives a second longer, then the bucket starts full anyway.
    assert 1000 < redis_client.pttl(ratelimit.KEY_PREFIX + a) <= 2000


def test_redis_clock_is_used_without_now():
    key = bucket()
    assert ratelimit.take(key=key, rate=1, burst=1) == 0
    assert 0 < ratelimit.take(key=key, rate=1, burst=1) <= 1


# --- the rate limit through the endpoint


def test_over_the_rate_gets_429_with_retry_after(client, account, tiny_rate):
    answers = [post(client, account.inbound_token, call(n)) for n in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refused = answers[2]
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert refused["Content-Type"] == "application/json"
    assert refused.json() == {"error": f"too many requests; retry after {refused['Retry-After']} s"}
    assert InboundEvent.objects.count() == 2


def test_retry_after_is_rounded_up_to_whole_seconds(client, account, settings):
    settings.INBOUND_RATE_PER_SECOND = 1.1  # the next token within 0.91 s: Retry-After says 1
    settings.INBOUND_RATE_BURST = 1
    assert post(client, account.inbound_token, call(1)).status_code == 202
    answer = post(client, account.inbound_token, call(2))
    assert answer.status_code == 429
    assert answer["Retry-After"] == "1"
    assert answer.json() == {"error": "too many requests; retry after 1 s"}


def test_tokens_are_limited_separately(client, make_account, tiny_rate):
    first, second = make_account(), make_account()
    assert [post(client, first.inbound_token, call(n)).status_code for n in range(3)] == [202, 202, 429]
    assert post(client, second.inbound_token, call(10)).status_code == 202


def test_unknown_tokens_and_tokenless_callers_are_limited_too(client, db, tiny_rate):
    unknown = f"unknown-{uuid.uuid4()}"
    assert [post(client, unknown).status_code for _ in range(3)] == [401, 401, 429]
    assert post(client, f"other-{uuid.uuid4()}").status_code == 401
    # Without a token, by address.
    assert [post(client).status_code for _ in range(3)] == [401, 401, 429]
    assert post(client, REMOTE_ADDR="192.0.2.7").status_code == 401
    # X-Forwarded-For is the caller's to write: it does not make a new bucket.
    assert post(client, HTTP_X_FORWARDED_FOR="192.0.2.8").status_code == 429


def test_the_limit_is_checked_before_any_query(client, db, tiny_rate, django_assert_num_queries):
    unknown = f"unknown-{uuid.uuid4()}"
    post(client, unknown)
    post(client, unknown)
    with django_assert_num_queries(0):
        assert post(client, unknown).status_code == 429


def test_redis_holds_the_token_hash_only(client, account, redis_client):
    assert post(client, account.inbound_token).status_code == 202
    keys = [key.decode() for key in redis_client.scan_iter(match=ratelimit.KEY_PREFIX + "*")]
    digest = hashlib.sha256(account.inbound_token.encode()).hexdigest()
    assert keys == [f"{ratelimit.KEY_PREFIX}token:{digest}"]
    stored = redis_client.hgetall(keys[0])
    assert account.inbound_token.encode() not in b"".join([*stored, *stored.values()])


def test_no_limit_without_redis_url(client, account, settings, redis_client):
    settings.REDIS_URL = ""
    settings.INBOUND_RATE_BURST = 1
    settings.INBOUND_RATE_PER_SECOND = 0.001
    assert [post(client, account.inbound_token, call(n)).status_code for n in range(3)] == [202, 202, 202]
    assert list(redis_client.scan_iter(match=ratelimit.KEY_PREFIX + "*")) == []


def test_unreachable_redis_lets_requests_through_and_warns_once(client, account, settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.INBOUND_RATE_BURST = 1
    settings.INBOUND_RATE_PER_SECOND = 0.001
    with caplog.at_level(logging.WARNING, logger="notifications.ratelimit"):
        statuses = [post(client, account.inbound_token, call(n)).status_code for n in range(3)]
    assert statuses == [202, 202, 202]
    warnings = [r for r in caplog.records if r.name == "notifications.ratelimit"]
    assert len(warnings) == 1
    assert "Redis unreachable" in warnings[0].getMessage()


# --- keys and nesting


@pytest.fixture
def limits(settings: Any) -> None:
    settings.INBOUND_MAX_KEYS = 4
    settings.INBOUND_MAX_DEPTH = 3


def test_64_kib_of_brackets_is_a_400_not_a_crash(client, account):
    for body in (b"[" * (64 * 1024), b'{"a":' * 13000, b'{"a": ' + b"[" * 65000 + b"}"):
        answer = post(client, account.inbound_token, body)
        assert answer.status_code == 400, body[:20]
        assert answer.json() == {"error": "the body is nested deeper than the limit of 5 levels"}


def test_nesting_at_the_limit_is_accepted_and_one_more_level_refused(client, account, limits):
    at_limit = {"call_session_id": "1", "x": {"y": [1]}}  # object, object, array: 3 levels
    assert post(client, account.inbound_token, at_limit).status_code == 202
    answer = post(client, account.inbound_token, {"call_session_id": "2", "x": {"y": [[1]]}})
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body is nested deeper than the limit of 3 levels"}


def test_brackets_in_strings_are_not_nesting(client, account, limits):
    body = {"call_session_id": "1", "comment": '[[[[{{{{ \\" [[[['}
    assert post(client, account.inbound_token, body).status_code == 202


def test_keys_are_counted_nested_ones_too(client, account, limits):
    assert post(client, account.inbound_token, {"a": "1", "b": {"c": "2", "d": "3"}}).status_code == 202
    answer = post(client, account.inbound_token, {"a": "1", "b": {"c": "2", "d": "3", "e": "4"}})
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body has 5 keys, over the limit of 4"}


def test_form_fields_and_query_parameters_are_limited_too(client, account, limits):
    form = urlencode({f"k{n}": "v" for n in range(5)})
    answer = post(client, account.inbound_token, form.encode(), content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert answer.json() == {"error": "5 form fields, over the limit of 4 keys"}
    query = urlencode({"token": account.inbound_token, **{f"k{n}": "v" for n in range(5)}})
    answer = client.get(f"{URL}?{query}")
    assert answer.status_code == 400
    assert answer.json() == {"error": "5 form fields, over the limit of 4 keys"}  # the token is not a value


def test_default_limits_allow_500_keys_and_five_levels(client, account):
    flat = {f"k{n}": n for n in range(500)}
    assert post(client, account.inbound_token, flat).status_code == 202
    answer = post(client, account.inbound_token, {**flat, "one_more": 1})
    assert answer.json() == {"error": "the body has 501 keys, over the limit of 500"}
    assert post(client, account.inbound_token, {"a": {"b": {"c": {"d": {"e": 1}}}}}).status_code == 202


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"n": 1e999}', "the number 1e999 in the body is out of range"),
        (b'{"n": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"n": NaN}', "NaN is not a JSON value"),
        (b'{"n": ' + b"9" * 5000 + b"}", "a number in the body has 5000 digits; send long numbers as strings"),
    ],
)
def test_numbers_json_cannot_hold_are_400(client, account, raw, message):
    answer = post(client, account.inbound_token, raw)
    assert answer.status_code == 400
    assert answer.json() == {"error": message}


def test_half_a_surrogate_pair_is_replaced_not_a_crash(client, account):
    answer = post(client, account.inbound_token, b'{"call_session_id": "7", "visitor_name": "A\\ud800B"}')
    assert answer.status_code == 202
    assert InboundEvent.objects.get(pk=answer.json()["event_id"]).values["visitor_name"] == "A\ufffdB"


def test_brackets_after_an_unterminated_string_are_not_nesting():
    # Escaped quotes do not end the string; the unterminated one runs to the end (in one pass).
    with pytest.raises(IntakeError, match="not valid JSON"):
        parse_body(b'{"a": "' + b'\\"' * 30000 + b"[[[[[[[[", "application/json")


# --- every answer is JSON


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
@pytest.mark.parametrize("with_token", [True, False])
def test_other_methods_get_a_json_405(client, account, method, with_token):
    url = f"{URL}?token={account.inbound_token}" if with_token else URL
    answer = getattr(client, method)(url, data=json.dumps(CALL), content_type="application/json")
    assert answer.status_code == 405
    assert answer.json() == {"error": f"method {method.upper()} not allowed; send POST (or GET)"}
    assert answer["Allow"] == "GET, POST"


def test_head_is_405_and_stores_nothing(client, account):
    answer = client.head(f"{URL}?{urlencode({'token': account.inbound_token, **CALL})}")
    assert answer.status_code == 405
    assert InboundEvent.objects.count() == 0


def test_invalid_utf8_body_is_a_json_400(client, account):
    answer = post(client, account.inbound_token, b'{"visitor_name": "\xff\xfe"}')
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body is not UTF-8 text"}


def test_malformed_percent_encoding_is_tolerated(client, account):
    body = b"call_session_id=%zz1&visitor_name=%E0%A4%A&city=%ff"
    answer = post(client, account.inbound_token, body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 202
    values = InboundEvent.objects.get(pk=answer.json()["event_id"]).values
    assert values == {"call_session_id": "%zz1", "visitor_name": "\ufffd%A", "city": "\ufffd"}
    answer = client.get(f"{URL}?token={account.inbound_token}&call_session_id=%zz2&visitor_name=%ff%")
    assert answer.status_code == 202
    answer = client.get(f"{URL}?token=%ff%fe&call_session_id=3")
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/json"


def test_nul_in_a_raw_query_string_is_dropped(client, account):
    answer = client.get(URL, QUERY_STRING=f"token={account.inbound_token}&call_session_id=4&city=a\x00b")
    assert answer.status_code == 202
    stored = InboundEvent.objects.get(pk=answer.json()["event_id"])
    assert stored.values == {"call_session_id": "4", "city": "ab"}
    assert stored.raw == "call_session_id=4&city=ab"


def test_too_many_query_parameters_for_django_is_a_json_400(client, account):
    query = "&".join(f"k{n}=v" for n in range(1100))
    answer = client.get(f"{URL}?token={account.inbound_token}&{query}")
    assert answer.status_code == 400
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in answer.json()["error"]


def test_a_content_length_that_is_not_a_number_is_a_json_400(client, account):
    answer = post(client, account.inbound_token, CALL, CONTENT_LENGTH="12abc")
    assert answer.status_code == 400
    assert answer.json() == {"error": "the Content-Length header is not a number"}


# --- fuzz

# JSON text built piece by piece, so that it can hold what json.dumps never writes: NaN, 1e999,
# thousands of digits, half a surrogate pair, UIS's doubled quotes and bare mnemonics.
NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "1.5e308", "0.1e1"]),
    st.integers(4000, 6000).map(lambda n: "9" * n),  # Python reads at most 4300 digits
)
STRINGS = st.one_of(
    st.builds(json.dumps, st.text(), ensure_ascii=st.booleans()),
    st.integers(0xD800, 0xDFFF).map(lambda c: f'"x\\u{c:04x}"'),
    st.sampled_from(['"{{visitor_name}}"', '""Анна""', "{{visitor_email}}", '"\\u0000"', '"[[[[[[{{{{"']),
)
SCALARS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["null", "true", "false"]))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"


JSON_TEXT = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(STRINGS, inner), max_size=4).map(_object),
    ),
    max_leaves=12,
)
UIS_KEYS = st.sampled_from(['"call_session_id"', '"communication_id"', '"visitor_name"', '"contact_phone_number"'])
BODIES = st.one_of(
    # Mostly objects of values, as UIS sends them, with anything as a value.
    st.lists(st.tuples(st.one_of(UIS_KEYS, STRINGS), JSON_TEXT), max_size=8).map(lambda p: _object(p).encode()),
    st.lists(st.tuples(UIS_KEYS, JSON_TEXT), min_size=1, max_size=4).map(lambda p: _object(p).encode()),
    st.lists(st.tuples(UIS_KEYS, st.one_of(NUMBERS, STRINGS)), min_size=1, max_size=3).map(
        lambda p: _object(p).encode()
    ),
    JSON_TEXT.map(str.encode),
    st.integers(1, 70_000).flatmap(
        lambda n: st.sampled_from([b"[" * n, b'{"a":' * n + b"1" + b"}" * n, b'{"a": ' + b"[" * n + b"]" * n + b"}"])
    ),
    st.binary(max_size=512),
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=12).map(lambda p: urlencode(p).encode()),
    st.text(alphabet='=&%+;{}[]"\\:, abfF09\x00\u0416', max_size=300).map(str.encode),
    st.integers(64 * 1024 - 16, 64 * 1024 + 16).map(lambda n: b'{"a": "' + b"x" * (n - 9) + b'"}'),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "",
            "multipart/form-data; boundary=xyz",
            "application/json; charset=utf-16",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
)
# WSGI hands Django the query string as latin-1 text: what a server can pass on.
QUERIES = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=8).map(urlencode),
    st.text(alphabet=st.sampled_from("=&%+;\x00") | st.characters(max_codepoint=0xFF), max_size=200),
)


@pytest.fixture
def fuzz_account(make_account, make_notification, settings):
    """An account with a notification (so events are rendered too), and a rate limit out of the way."""
    settings.INBOUND_RATE_BURST = 1_000_000
    account = make_account()
    make_notification(account)
    return account


FUZZ_SETTINGS = hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the account is made once per test, not per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def send(client, *, method: str, path: str, body: bytes, content_type: str, query: str, times: int = 1, **headers):
    """Send the request and check the answer is documented JSON. Each example works on the same
    database: its writes are rolled back, and sending it twice covers repeats."""
    with transaction.atomic():
        for _ in range(times):
            answer = client.generic(method, path, data=body, content_type=content_type, QUERY_STRING=query, **headers)
            event(f"answered {answer.status_code}")  # shown by --hypothesis-show-statistics
            assert answer.status_code in DOCUMENTED, answer.content[:500]
            assert answer["Content-Type"] == "application/json"
            payload = json.loads(answer.content)
            if answer.status_code >= 400:
                assert list(payload) == ["error"]
                assert payload["error"]
        transaction.set_rollback(True)


@pytest.mark.django_db
@given(body=BODIES, content_type=CONTENT_TYPES, twice=st.booleans())
@FUZZ_SETTINGS
def test_fuzz_bodies_get_documented_json(client, fuzz_account, body, content_type, twice):
    """Bodies alone, with a valid token: every one goes as far as parsing, and storing if it can."""
    query = urlencode({"token": fuzz_account.inbound_token})
    send(client, method="POST", path=URL, body=body, content_type=content_type, query=query, times=2 if twice else 1)


@pytest.mark.django_db
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "OPTIONS"]),
    kind=st.sampled_from(["calls", "offline_requests", "taxi_requests", "chats"]),
    slash=st.booleans(),
    body=BODIES,
    content_type=CONTENT_TYPES,
    query=QUERIES,
    auth=st.sampled_from(["query", "bearer", "wrong", "none"]),
)
@FUZZ_SETTINGS
def test_fuzz_requests_get_documented_json(client, fuzz_account, method, kind, slash, body, content_type, query, auth):
    """Any method, type, query string and token, besides the body."""
    headers: dict[str, str] = {}
    if auth == "query":
        query = f"{query}&token={fuzz_account.inbound_token}"
    elif auth == "bearer":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {fuzz_account.inbound_token}"
    elif auth == "wrong":
        query = f"{query}&token=wrong-fuzz-token"
    path = f"/api/uis/events/{kind}/" if slash else f"/api/uis/events/{kind}"
    send(client, method=method, path=path, body=body, content_type=content_type, query=query, **headers)


@pytest.mark.django_db
def test_a_new_unknown_token_each_time_is_still_limited_by_address(client):
    answers = [post(client, f"guess-{uuid.uuid4()}").status_code for _ in range(25)]
    assert answers[:20] == [401] * 20 and set(answers[20:]) == {429}
    assert post(client, f"guess-{uuid.uuid4()}", REMOTE_ADDR="192.0.2.9").status_code == 401  # another address
