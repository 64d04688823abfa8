"""PocketBase's datetime text (``2026-01-02 03:04:05.678Z``) to and from Python and ISO 8601.

One place for the conversions every service needs when it reads or writes PocketBase dates.
"""

from __future__ import annotations

from datetime import UTC, datetime


def pb_datetime(moment: datetime) -> str:
    """An aware ``datetime`` as PocketBase's datetime text (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_pb_time(pb_time: str) -> datetime:
    """PocketBase's datetime text as an aware UTC ``datetime``."""
    return datetime.strptime(pb_time, "%Y-%m-%d %H:%M:%S.%fZ").replace(tzinfo=UTC)


def iso(pb_time: str | None) -> str | None:
    """PocketBase's datetime text as ISO 8601 (``2026-01-02T03:04:05.678Z``); empty stays None."""
    return pb_time.replace(" ", "T", 1) if pb_time else None
