"""How deep JSON text nests, found without parsing it. Pure.

json.loads (and whatever walks its result: rendering, the admin's JSON fields) recurses once per
level, so 60,000 `[` raise RecursionError, which no `except ValueError` catches: a 500. Text from
outside (an event, a template, filter conditions, a draft) is measured with this first."""

import re

# Any bracket outside a string, or a string (its closing quote optional, so that an unterminated
# one ends the scan instead of being tried again from every later quote): one linear pass.
_JSON_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)

# Templates and filter conditions: Mindbox's bodies nest a handful of levels; this is far from
# both what people write and Python's recursion limit.
MAX_CONFIG_DEPTH = 32


def deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets in strings aside. Iterative."""
    depth = 0
    for match in _JSON_TOKEN_RE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth = max(depth - 1, 0)
    return False
