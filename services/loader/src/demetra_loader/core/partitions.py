"""The monthly partitions of campaign_daily: the ones a batch needs are created before its transaction, and
retention drops whole partitions older than HISTORY_RETENTION_DAYS (never row by row)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

from demetra_common.tables import DAILY_PARTITIONS
from demetra_loader.core.storage import Database

logger = logging.getLogger(__name__)


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def expired_months(months: Iterable[dt.date], today: dt.date, retention_days: int) -> list[dt.date]:
    """The months entirely older than ``today - retention_days`` (none when retention_days is 0: forever)."""
    if retention_days == 0:
        return []
    horizon = today - dt.timedelta(days=retention_days)
    return sorted(month for month in months if DAILY_PARTITIONS.next_month(month) <= horizon)


class DailyPartitions:
    """Creates the partitions batches need (IF NOT EXISTS, remembering which exist, so that a batch whose
    months are known costs nothing) and applies retention."""

    def __init__(
        self, database: Database, *, retention_days: int, today: Callable[[], dt.date] = utc_today
    ) -> None:
        self._database = database
        self._retention_days = retention_days
        self._today = today
        self._known: set[dt.date] | None = None  # read from the catalogue on first use

    async def ensure(self, months: Iterable[dt.date]) -> None:
        """Every one of these months has its partition (each its own committed DDL, before the batch)."""
        wanted = set(months)
        if not wanted or (self._known is not None and wanted <= self._known):
            return
        async with self._database.transaction() as repository:
            known = await repository.partition_months()
            missing = wanted - known
            if missing:
                await repository.create_partitions(missing)
                logger.info("created campaign_daily partitions %s", sorted(str(m) for m in missing))
        self._known = known | missing

    def forget(self) -> None:
        """Read the partitions from the catalogue again next time (one may have been dropped meanwhile)."""
        self._known = None

    async def apply_retention(self) -> list[dt.date]:
        """Drop the partitions entirely older than today - retention; returns their months."""
        async with self._database.transaction() as repository:
            known = await repository.partition_months()
            expired = expired_months(known, self._today(), self._retention_days)
            if expired:
                await repository.drop_partitions(expired)
        self._known = known - set(expired)
        if expired:
            logger.info("retention dropped campaign_daily partitions %s", [str(m) for m in expired])
        return expired
