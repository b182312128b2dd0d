"""Business-hours time for one org, as plain integers.

Stories move in microseconds of *local wall-clock time* (an int), which makes "advance 3 h, then snap to
the next business hour" cheap integer arithmetic. Formatting looks up the day's UTC offset in a small
per-day cache, so writing a million timestamps never touches `zoneinfo` per event. DST switches happen
at night, outside business hours, so one offset per day is exact for every time we emit.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
OPEN = 8 * HOUR  # business hours: Mon-Fri 08:00-18:00 local
CLOSE = 18 * HOUR
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_NAIVE = datetime(1970, 1, 1)
HH_MM = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))  # minute of day -> "HH:MM:"
SS = tuple(f"{s:02d}." for s in range(60))
US3 = tuple(f"{n:03d}" for n in range(1000))  # half of the microseconds field


def is_business_time(t: int) -> bool:
    """True when local time `t` falls Mon-Fri, 08:00 <= time < 18:00."""
    d, r = divmod(t, DAY)
    return (d + 3) % 7 < 5 and OPEN <= r < CLOSE  # 1970-01-01 was a Thursday (weekday 3)


class OrgClock:
    """Local business-hours clock of one org, with the window [start, end] the demo covers."""

    def __init__(self, tz_name: str, end: datetime, span_days: int) -> None:
        self.tz = ZoneInfo(tz_name)
        self.utc = tz_name == "UTC"
        local_end = end.astimezone(self.tz).replace(tzinfo=None)
        self.end = (local_end - _EPOCH_NAIVE) // timedelta(microseconds=1)
        self.start = self.end - span_days * DAY
        self._days: dict[int, tuple[str, str]] = {}

    def day_info(self, d: int) -> tuple[str, str]:
        info = self._days.get(d)
        if info is None:
            day = _EPOCH_DATE + timedelta(days=d)
            offset = datetime(day.year, day.month, day.day, 12, tzinfo=self.tz).utcoffset() or timedelta(0)
            if self.utc:
                off = "Z"
            else:
                minutes = int(offset.total_seconds()) // 60
                sign = "-" if minutes < 0 else "+"
                off = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
            info = (day.isoformat() + "T", off)
            self._days[d] = info
        return info

    def fmt(self, t: int) -> str:
        """RFC 3339 with the org's offset, microsecond precision: `2026-10-05T09:14:03.120000-05:00`."""
        d, r = divmod(t, DAY)
        prefix, off = self._days.get(d) or self.day_info(d)
        m, r = divmod(r, MINUTE)
        s, us = divmod(r, SECOND)
        return f"{prefix}{HH_MM[m]}{SS[s]}{US3[us // 1000]}{US3[us % 1000]}{off}"  # table lookups: hot path

    def date_str(self, t: int) -> str:
        """The local calendar date of `t`, `YYYY-MM-DD`."""
        return self.day_info(t // DAY)[0][:10]

    def to_utc(self, t: int) -> datetime:
        """`t` as an aware UTC datetime (for tests and the manifest)."""
        local = _EPOCH_NAIVE + timedelta(microseconds=t)
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    @staticmethod
    def snap(t: int, rng: random.Random) -> int:
        """`t` if inside business hours, else the next opening plus up to 45 minutes of jitter."""
        d, r = divmod(t, DAY)
        if (d + 3) % 7 < 5:
            if OPEN <= r < CLOSE:
                return t
            if r < OPEN:
                return d * DAY + OPEN + int(rng.random() * 45 * MINUTE)
        d += 1
        while (d + 3) % 7 >= 5:
            d += 1
        return d * DAY + OPEN + int(rng.random() * 45 * MINUTE)
