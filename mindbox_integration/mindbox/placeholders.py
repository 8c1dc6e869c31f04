"""Placeholders that Mindbox's operation description (and UIS's guide) leave in a URL: single
braces such as `{UUID устройства}`, `{Идентификатор точки интеграции}` or `{sync/async}`, as
opposed to UIS mnemonics in double braces (`{{name}}`). Pure: no Django.

deviceUUID's placeholder has one meaning here, the visitor's device that the site script links
(`{{mindbox_device_uuid}}`), so it is put in its place; any other one is the user's to fill."""

import re
from urllib.parse import unquote

DEVICE_UUID_MNEMONIC = "{{mindbox_device_uuid}}"

# A `{...}` that is not half of a `{{...}}`.
_SINGLE = re.compile(r"(?<!\{)\{(?!\{)[^{}]*(?<!\})\}(?!\})")
_DEVICE_PARAM = re.compile(r"(?P<head>[?&]deviceUUID=)(?P<value>[^&#]*)")


def placeholders(url: str) -> list[str]:
    """The `{...}` placeholders in the URL as a person reads them (percent-encoding undone), in order."""
    return _SINGLE.findall(unquote(url))


def fill_device_uuid(url: str) -> tuple[str, str]:
    """The URL with `deviceUUID={...}` made `deviceUUID={{mindbox_device_uuid}}`, and the
    placeholder that was replaced ("" when there was none)."""
    replaced = ""

    def swap(match: re.Match[str]) -> str:
        nonlocal replaced
        value = unquote(match["value"]).strip()
        if _SINGLE.fullmatch(value):
            replaced = value
            return match["head"] + DEVICE_UUID_MNEMONIC
        return match[0]

    return _DEVICE_PARAM.sub(swap, url), replaced
