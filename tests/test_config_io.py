"""Configuration as code: import_integrations and export_integrations."""

import copy
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mindbox_integration import crypto, services
from mindbox_integration.models import Account, MindboxIntegration, Notification, Operation

pytestmark = pytest.mark.django_db

CONFIG = {
    "accounts": [
        {
            "name": "Acme",
            "uis_app_id": "100500",
            "inbound_token": "given-token-0123456789-abcdefghijklmnop",
            "mindbox": {
                "active": True,
                "secret_key": "sk-import-secret-1",
                "send_rate_limit": 20,
                "operations": [
                    {
                        "name": "Zvonok",
                        "notifications": [
                            {
                                "name": "Входящие звонки",
                                "url": "https://api.s.mindbox.ru/v3/operations/async?endpointId=acme.Custom&operation=Zvonok",
                                "communication_type": "calls",
                                "filters": {
                                    "match": "all",
                                    "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}],
                                },
                                "body": '{"customer": {"fullName": {{visitor_name}}, "mobilePhone": {{contact_phone_number}}}}',
                                "active": True,
                            }
                        ],
                    }
                ],
            },
        }
    ]
}


def write(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def snapshot() -> list[dict]:
    """Every column of every configuration row, tokens, keys and timestamps included."""
    rows = []
    for model in (Account, MindboxIntegration, Operation, Notification):
        rows.extend(row | {"_model": model.__name__} for row in model.objects.order_by("pk").values())
    return rows


def run_import(path: str) -> str:
    out = StringIO()
    call_command("import_integrations", path, stdout=out)
    return out.getvalue()


def test_import_creates_everything(tmp_path):
    output = run_import(write(tmp_path, CONFIG))
    account = Account.objects.get(uis_app_id="100500")
    assert account.inbound_token_hash == crypto.token_hash(CONFIG["accounts"][0]["inbound_token"])
    assert account.mindbox.active and services.secret_key(integration=account.mindbox) == "sk-import-secret-1"
    notification = Notification.objects.get(operation__name="Zvonok", operation__integration__account=account)
    assert notification.filters["conditions"][0]["values"] == ["in"]
    assert "created 3, updated 1, unchanged 0" in output  # the account brings its integration, then it is set
    assert "sk-import-secret-1" not in output


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    path = write(tmp_path, CONFIG)
    run_import(path)
    before = snapshot()
    output = run_import(path)
    assert snapshot() == before
    assert "created 0, updated 0" in output


def test_import_updates_by_natural_keys(tmp_path):
    run_import(write(tmp_path, CONFIG))
    changed = copy.deepcopy(CONFIG)
    del changed["accounts"][0]["inbound_token"]
    del changed["accounts"][0]["mindbox"]["secret_key"]  # absent: the stored key stays
    changed["accounts"][0]["name"] = "Acme Ltd"
    changed["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]["active"] = False
    output = run_import(write(tmp_path, changed))
    account = Account.objects.get(uis_app_id="100500")
    assert account.name == "Acme Ltd"
    assert account.inbound_token_hash == crypto.token_hash(CONFIG["accounts"][0]["inbound_token"])
    assert services.secret_key(integration=account.mindbox) == "sk-import-secret-1"
    assert Notification.objects.get().active is False
    assert Notification.objects.count() == 1 and Operation.objects.count() == 1
    assert "updated 2" in output


def test_invalid_file_imports_nothing_and_names_json_paths(tmp_path):
    bad = copy.deepcopy(CONFIG)
    bad["accounts"].append({"name": "Beta", "uis_app_id": "200"})  # valid on its own: must not be applied either
    notification = bad["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]
    notification["url"] = notification["url"].replace("operation=Zvonok", "operation=Other")
    notification["body"] = '{"customer": {"fullName": {{visitor_nam}}}}'
    notification["communication_typo"] = "calls"
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, bad))
    message = str(error.value)
    path = "$.accounts[0].mindbox.operations[0].notifications[0]"
    assert f"{path}.url:" in message and "Other" in message
    assert f"{path}.body:" in message and "{{visitor_nam}}" in message
    assert f"{path}.communication_typo: unknown key" in message
    assert Account.objects.count() == 0


def test_import_puts_the_mnemonic_in_place_of_the_device_placeholder_and_says_so(tmp_path):
    data = copy.deepcopy(CONFIG)
    notification = data["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]
    notification["url"] += "&deviceUUID={UUID устройства}"
    out = run_import(write(tmp_path, data))
    assert Notification.objects.get().url.endswith("&deviceUUID={{mindbox_device_uuid}}")
    assert "deviceUUID={UUID устройства}" in out and "{{mindbox_device_uuid}}" in out
    before = snapshot()
    run_import(write(tmp_path, data))
    assert snapshot() == before  # the same file again changes nothing


def test_import_refuses_another_placeholder_naming_it(tmp_path):
    data = copy.deepcopy(CONFIG)
    notification = data["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]
    notification["url"] = notification["url"].replace("/async?", "/{sync/async}?")
    with pytest.raises(CommandError) as refused:
        run_import(write(tmp_path, data))
    assert "$.accounts[0].mindbox.operations[0].notifications[0].url:" in str(refused.value)
    assert "{sync/async}" in str(refused.value)
    assert not Notification.objects.exists()


def test_not_json_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{oops", encoding="utf-8")
    with pytest.raises(CommandError, match="is not JSON"):
        run_import(str(path))


def test_export_has_no_secrets_and_imports_back(tmp_path):
    run_import(write(tmp_path, CONFIG))
    out = StringIO()
    call_command("export_integrations", stdout=out)
    text = out.getvalue()
    assert "sk-import-secret-1" not in text
    assert CONFIG["accounts"][0]["inbound_token"] not in text
    exported = json.loads(text)
    expected = copy.deepcopy(CONFIG)
    del expected["accounts"][0]["inbound_token"]
    del expected["accounts"][0]["mindbox"]["secret_key"]
    expected["accounts"][0]["site_key"] = Account.objects.get().site_key  # public: clients' pages hold it
    assert timezone.now() - parse_datetime(exported.pop("exported_at")) < timedelta(minutes=1)
    assert exported == expected
    before = snapshot()
    run_import(write(tmp_path, exported))
    assert snapshot() == before


def test_the_site_key_moves_with_the_account_so_clients_pages_keep_working(tmp_path):
    given = copy.deepcopy(CONFIG)
    given["accounts"][0]["site_key"] = "site-key-from-the-old-portal"
    run_import(write(tmp_path, given))
    assert Account.objects.get().site_key == "site-key-from-the-old-portal"
    exported = StringIO()
    call_command("export_integrations", stdout=exported)
    assert json.loads(exported.getvalue())["accounts"][0]["site_key"] == "site-key-from-the-old-portal"


def test_a_bad_or_taken_site_key_is_refused(tmp_path, make_account):
    other = make_account()
    bad = copy.deepcopy(CONFIG)
    bad["accounts"][0]["site_key"] = "short"
    bad["accounts"].append({"name": "Beta", "uis_app_id": "200", "site_key": other.site_key})
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, bad))
    assert "$.accounts[0].site_key: 16 to 32 letters" in str(error.value)
    assert "$.accounts[1].site_key: already used by another account" in str(error.value)
    assert not Account.objects.filter(uis_app_id__in=["100500", "200"]).exists()


def test_export_to_a_file(tmp_path):
    run_import(write(tmp_path, CONFIG))
    target = tmp_path / "out.json"
    call_command("export_integrations", str(target))
    assert json.loads(target.read_text(encoding="utf-8"))["accounts"][0]["uis_app_id"] == "100500"


def test_import_checks_nulls_lengths_and_tokens_within_the_file(tmp_path):
    bad = copy.deepcopy(CONFIG)
    bad["accounts"][0]["mindbox"]["operations"][0]["notifications"][0]["active"] = None
    bad["accounts"][0]["mindbox"]["secret_key"] = "sk с пробелом"
    bad["accounts"].append(
        {"name": "Beta", "uis_app_id": "2" * 40, "inbound_token": CONFIG["accounts"][0]["inbound_token"]}
    )
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, bad))
    message = str(error.value)
    assert "$.accounts[0].mindbox.operations[0].notifications[0].active: must be a bool" in message
    assert "$.accounts[0].mindbox.secret_key:" in message
    assert "$.accounts[1].uis_app_id: at most 32 characters" in message
    assert "$.accounts[1].inbound_token:" in message and "appears twice" in message
    assert Account.objects.count() == 0


def test_reimporting_an_old_file_does_not_bring_back_a_rotated_token(tmp_path):
    path = write(tmp_path, CONFIG)
    run_import(path)
    account = Account.objects.get(uis_app_id="100500")
    new = services.rotate_inbound_token(account=account, actor="tests", grace=timedelta(0))
    run_import(path)
    account.refresh_from_db()
    assert account.inbound_token_hash == crypto.token_hash(new)
    out = StringIO()
    call_command("import_integrations", path, "--replace-tokens", stdout=out)
    account.refresh_from_db()
    assert account.inbound_token_hash == crypto.token_hash(CONFIG["accounts"][0]["inbound_token"])
    assert "inbound token" in out.getvalue()


def test_weak_or_repeated_tokens_are_refused_without_echoing_them(tmp_path):
    weak = copy.deepcopy(CONFIG)
    weak["accounts"][0]["inbound_token"] = "short-token"
    with pytest.raises(CommandError) as refused:
        run_import(write(tmp_path, weak))
    assert "$.accounts[0].inbound_token: too weak" in str(refused.value)
    assert "short-token" not in str(refused.value)
    twice = copy.deepcopy(CONFIG)
    twice["accounts"].append(
        {"name": "Beta", "uis_app_id": "200", "inbound_token": CONFIG["accounts"][0]["inbound_token"]}
    )
    with pytest.raises(CommandError) as refused:
        run_import(write(tmp_path, twice))
    assert "appears twice" in str(refused.value)
    assert CONFIG["accounts"][0]["inbound_token"] not in str(refused.value)


@pytest.mark.parametrize("rate", ["20", True, 0, -1, 1.5])
def test_a_rate_limit_must_be_a_positive_whole_number(tmp_path, rate):
    bad = copy.deepcopy(CONFIG)
    bad["accounts"][0]["mindbox"]["send_rate_limit"] = rate
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, bad))
    assert "$.accounts[0].mindbox.send_rate_limit:" in str(error.value)
    assert Account.objects.count() == 0


def test_the_rate_limit_is_imported_and_cleared_by_null(tmp_path):
    run_import(write(tmp_path, CONFIG))
    assert MindboxIntegration.objects.get().send_rate_limit == 20
    unlimited = copy.deepcopy(CONFIG)
    unlimited["accounts"][0]["mindbox"]["send_rate_limit"] = None
    assert "send_rate_limit" in run_import(write(tmp_path, unlimited))
    assert MindboxIntegration.objects.get().send_rate_limit is None
