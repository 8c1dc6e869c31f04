"""The fast tier (`make unit`): the pure parts (rendering, filters, intake's parsing, URL and body
validation, error wording) with no PostgreSQL or Redis reachable. `make unit` points both at a
closed port and stops the suite's own conftest from loading (--confcutdir), so a test here that
reaches for a service fails at once instead of passing by luck; pytest-django still sets Django
up (settings, translations) and refuses database access to any test."""

from hypothesis import settings

# No deadline per example: on a shared, busy machine one example may take longer than
# Hypothesis's 200 ms, and a test here must fail on a wrong result, never on time.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")
