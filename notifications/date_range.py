"""A from-to date filter for the admin's lists (the delivery and event logs): two of the
browser's date fields in a small GET form that carries the list's other filters and search
along, so the range narrows what is already chosen. Days are the admin's time zone's, both
ends included. No script (django-admin-rangefilter needs an inline script and style, which the
admin's Content-Security-Policy refuses). A date that cannot be read, or a range that ends
before it starts, is said in the filter and as a message, and that bound is left out."""

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Field, Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

QUICK_DAYS = ((0, _("Today")), (6, _("Last 7 days")), (29, _("Last 30 days")))
# The days a bound may be: a day's start in any time zone, and the day after the last, must
# still be a datetime (0001-01-01 or 9999-12-31 would overflow on the way to UTC).
EARLIEST, LATEST = date(2, 1, 1), date(9998, 12, 31)


class DateRangeFilter(admin.FieldListFilter):
    template = "admin/date_range_filter.html"

    def __init__(
        self,
        field: "Field[Any, Any]",
        request: HttpRequest,
        params: dict[str, Any],
        model: type[Model],
        model_admin: Any,
        field_path: str,
    ) -> None:
        self.since_param = f"{field_path}__from"
        self.until_param = f"{field_path}__to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.errors: list[str] = []
        self.since_text = self._text(self.since_param)
        self.until_text = self._text(self.until_param)
        self.since = self._date(self.since_text, gettext("from"))
        self.until = self._date(self.until_text, gettext("to"))
        if self.since and self.until and self.since > self.until:
            self.errors.append(
                gettext("The range ends (%(until)s) before it starts (%(since)s): swap the dates.")
                % {"since": self.since.isoformat(), "until": self.until.isoformat()}
            )
            self.since = self.until = None
        for error in self.errors:
            messages.warning(request, f"{self.title}: {error}")

    def _text(self, name: str) -> str:
        value = self.used_parameters.get(name, "")
        if isinstance(value, list):  # Django 5 hands each parameter over as a list
            value = value[-1] if value else ""
        return str(value).strip()

    def _date(self, text: str, bound: str) -> date | None:
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            self.errors.append(
                gettext("«%(text)s» in «%(bound)s» is not a date: write it as YYYY-MM-DD, e.g. 2026-12-01.")
                % {"text": text[:40], "bound": bound}
            )
            return None
        if not EARLIEST <= day <= LATEST:
            self.errors.append(
                gettext("«%(text)s» in «%(bound)s» is out of range: choose a date from %(earliest)s to %(latest)s.")
                % {"text": text[:40], "bound": bound, "earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}
            )
            return None
        return day

    def expected_parameters(self) -> list[str | None]:
        return [self.since_param, self.until_param]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: "QuerySet[Any]") -> "QuerySet[Any]":
        bounds: dict[str, datetime] = {}
        if self.since:
            bounds[f"{self.field_path}__gte"] = _day_start(self.since)
        if self.until:
            bounds[f"{self.field_path}__lt"] = _day_start(self.until + timedelta(days=1))
        return queryset.filter(**bounds) if bounds else queryset

    def choices(self, changelist: Any) -> Iterator[Any]:
        """One "choice": what the template needs for the form and its quick ranges."""
        mine = {self.since_param, self.until_param}
        today = timezone.localdate()
        yield {
            "since_param": self.since_param,
            "until_param": self.until_param,
            "since": self.since_text,
            "until": self.until_text,
            "errors": self.errors,
            "kept": sorted((name, value) for name, value in changelist.params.items() if name not in mine),
            "clear_url": changelist.get_query_string(remove=list(mine)),
            "chosen": bool(self.since or self.until),
            "quick": [
                {
                    "label": label,
                    "url": changelist.get_query_string(
                        {
                            self.since_param: (today - timedelta(days=days)).isoformat(),
                            self.until_param: today.isoformat(),
                        }
                    ),
                    "selected": self.since == today - timedelta(days=days) and self.until == today,
                }
                for days, label in QUICK_DAYS
            ],
        }


def _day_start(day: date) -> datetime:
    """The day's first moment in the admin's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
