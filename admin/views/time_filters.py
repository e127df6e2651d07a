"""List filters on UTC times that read what the staff member types as the clinic's time.

Lists show a stored UTC time in the request's zone (:func:`admin.i18n.current_timezone`,
the clinic's); the filters must read the time typed into "after / before / between /
equals" the same way.  Flask-Admin's datetime filters parse the text (``clean``) into a
naive ``datetime`` that :class:`core.db.UTCDateTime` refuses; here the parsed wall-clock
time gets the request's zone and is compared as aware UTC.  A date filter put on a time
column compares the clinic's calendar day of the row (``2026-03-06`` is 00:00 to 24:00
in the clinic, not in UTC).

:class:`admin.views.base.CareLoopModelView` applies :func:`zoned_filter` to every filter of
every list (written out in ``column_filters`` or derived from a column name through
:class:`ZonedFilterConverter`), so a view needs nothing of its own.  The filter's input keeps
the text as typed: Flask-Admin shows the request's argument, not the cleaned value.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.model import filters as base_filters
from sqlalchemy import and_, not_
from sqlalchemy.types import DateTime

from admin.i18n import current_timezone

__all__ = ["ZonedFilter", "ZonedFilterConverter", "local_to_utc", "zoned_filter"]


def local_to_utc(value: dt.datetime) -> dt.datetime:
    """A wall-clock time in the request's zone (naive, as parsed) as an aware UTC time.

    An aware value keeps its own offset.  In a daylight-saving change the first of two
    repeated hours is taken, and a skipped hour is read with the offset before the change
    (``zoneinfo``'s ``fold=0``).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(current_timezone()))
    return value.astimezone(dt.UTC)


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of *day* in the request's zone, as UTC."""
    return local_to_utc(dt.datetime.combine(day, dt.time()))


def _day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC covering the request zone's days *first* to *last*."""
    return _day_start(first), _day_start(last + dt.timedelta(days=1))


class ZonedFilter:
    """Marks a filter that reads typed times in the request's zone."""


class _ZonedDateTime(ZonedFilter):
    """``clean`` of a one-value datetime filter: Flask-Admin's parsing, then the zone."""

    def clean(self, value: str) -> dt.datetime:
        return local_to_utc(super().clean(value))  # type: ignore[misc]


class _ZonedDateTimeRange(ZonedFilter):
    """``clean`` of a "between" datetime filter: both ends in the request's zone."""

    def clean(self, value: str) -> list[dt.datetime]:
        return [local_to_utc(end) for end in super().clean(value)]  # type: ignore[misc]


@functools.cache
def _zoned_class(cls: type) -> type:
    """*cls* with the zone applied after its own ``clean`` (its ``apply`` unchanged)."""
    mixin = (
        _ZonedDateTimeRange
        if issubclass(cls, base_filters.BaseDateTimeBetweenFilter)
        else _ZonedDateTime
    )
    return type(cls.__name__, (mixin, cls), {"__module__": __name__, "__doc__": cls.__doc__})


# ----------------------------------------------------- date filters on a time column


class _ZonedDay(ZonedFilter):
    """A date filter on a time column: the typed date is a day in the request's zone."""

    def clean(self, value: str) -> tuple[dt.datetime, dt.datetime]:
        day = super().clean(value)  # type: ignore[misc]
        return _day_bounds(day, day)

    def _within(self, value: tuple[dt.datetime, dt.datetime], alias: Any) -> Any:
        column = self.get_column(alias)  # type: ignore[attr-defined]
        return and_(column >= value[0], column < value[1])


class ZonedDayEqualFilter(_ZonedDay, sqla_filters.DateEqualFilter):
    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(self._within(value, alias))


class ZonedDayNotEqualFilter(_ZonedDay, sqla_filters.DateNotEqualFilter):
    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(not_(self._within(value, alias)))


class ZonedDayGreaterFilter(_ZonedDay, sqla_filters.DateGreaterFilter):
    """After the day: from the next day's start on."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(self.get_column(alias) >= value[1])


class ZonedDaySmallerFilter(_ZonedDay, sqla_filters.DateSmallerFilter):
    """Before the day: up to its start."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(self.get_column(alias) < value[0])


class ZonedDayBetweenFilter(_ZonedDay, sqla_filters.DateBetweenFilter):
    """From the first day's start to the last day's end."""

    def clean(self, value: str) -> tuple[dt.datetime, dt.datetime]:  # type: ignore[override]
        first, last = sqla_filters.DateBetweenFilter.clean(self, value)
        return _day_bounds(first, last)

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(self._within(value, alias))


class ZonedDayNotBetweenFilter(ZonedDayBetweenFilter, sqla_filters.DateNotBetweenFilter):
    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query.filter(not_(self._within(value, alias)))


#: Flask-Admin's date filters (exactly these classes) -> their versions for a time column
_DAY_FILTERS: dict[type, type] = {
    sqla_filters.DateEqualFilter: ZonedDayEqualFilter,
    sqla_filters.DateNotEqualFilter: ZonedDayNotEqualFilter,
    sqla_filters.DateGreaterFilter: ZonedDayGreaterFilter,
    sqla_filters.DateSmallerFilter: ZonedDaySmallerFilter,
    sqla_filters.DateBetweenFilter: ZonedDayBetweenFilter,
    sqla_filters.DateNotBetweenFilter: ZonedDayNotBetweenFilter,
}


def _on_time_column(flt: Any) -> bool:
    column_type = getattr(getattr(flt, "column", None), "type", None)
    return isinstance(column_type, DateTime) or isinstance(
        getattr(column_type, "impl", None), DateTime
    )


def zoned_filter(flt: Any) -> Any:
    """*flt*, or a copy of it that reads typed times in the request's zone.

    Datetime filters (any subclass of Flask-Admin's) keep their ``apply`` and get the zone
    after their own parsing; Flask-Admin's plain date filters on a time column compare
    whole days of the request's zone.  Anything else is returned as it is.  The copy keeps
    the filter's column, name, options, joins and key (the view's filter URLs do not change).
    """
    if isinstance(flt, ZonedFilter):
        return flt
    cls = type(flt)
    if issubclass(cls, (base_filters.BaseDateTimeFilter, base_filters.BaseDateTimeBetweenFilter)):
        zoned = _zoned_class(cls)
    elif cls in _DAY_FILTERS and _on_time_column(flt):
        zoned = _DAY_FILTERS[cls]
    else:
        return flt
    result = copy.copy(flt)
    result.__class__ = zoned
    return result


class ZonedFilterConverter(sqla_filters.FilterConverter):
    """Flask-Admin's converter, for column names in ``column_filters``: a
    :class:`core.db.UTCDateTime` column (unknown to Flask-Admin, which names types by class)
    gets the datetime filters, read in the request's zone."""

    datetime_filters = tuple(
        _zoned_class(cls) if cls is not sqla_filters.FilterEmpty else cls
        for cls in sqla_filters.FilterConverter.datetime_filters
    )

    @base_filters.convert("utcdatetime")
    def conv_utc_datetime(self, column: Any, name: str, **kwargs: Any) -> list[Any]:
        return [cls(column, name, **kwargs) for cls in self.datetime_filters]
