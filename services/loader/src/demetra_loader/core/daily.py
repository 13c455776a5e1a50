"""Writing a batch's schema-2 records: their daily rows under the version guard, the restatements of the
past days they changed, and their campaigns' rows re-derived from the daily rows, inside the batch's
transaction."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from demetra_loader.core.batch import DATE, BatchPlan, CheckedBatch
from demetra_loader.core.restatements import restatement_values
from demetra_loader.core.storage import Repository
from demetra_loader.repository import DaysWritten, RestatementValues, StoredRestatement


@dataclass(slots=True)
class DaysOutcome:
    """What writing schema-2 records did, for counting them."""

    written: dict[int, DaysWritten] = field(default_factory=dict)  # record -> its days stored already
    campaigns: dict[str, bool] = field(default_factory=dict)  # derived campaigns rows: inserted?
    restatements: list[StoredRestatement] = field(default_factory=list)  # recorded (to publish)
    restated: Counter[int] = field(default_factory=Counter)  # record -> its restatements recorded

    def update(self, other: DaysOutcome) -> None:
        self.written.update(other.written)
        self.campaigns.update(other.campaigns)
        self.restatements.extend(other.restatements)
        self.restated.update(other.restated)

    def new_days(self, plan: BatchPlan, index: int) -> int:
        """How many days record ``index`` added to the table."""
        return len(plan.staged.get(index, ())) - self.written.get(index, DaysWritten()).existing


async def write_days(
    repository: Repository,
    batch: CheckedBatch,
    plan: BatchPlan,
    indices: Sequence[int],
    *,
    fast: bool = True,
) -> DaysOutcome:
    """Write the days these schema-2 records win (``plan.staged``), their restatements and the derived rows
    of the campaigns whose days changed. Raises ``RejectedByDatabase`` if PostgreSQL refuses any row.

    ``fast``: the days of campaigns without a campaigns row (so without any day stored: a backfill of new
    campaigns) are COPYed straight into the table, the others upserted; a refusal then leaves the
    transaction unusable. Otherwise every day goes through the upsert.
    """
    outcome = DaysOutcome()
    indices = [index for index in indices if plan.staged.get(index)]
    if not indices:
        return outcome
    upserted = indices
    new: set[str] = set()  # campaigns without a day stored before: all their days are the batch's
    if fast:
        named = {batch.days(i).campaign_id for i in indices}
        known = await repository.known_campaigns(sorted(named))
        new = named - known
        upserted = [index for index in indices if batch.days(index).campaign_id in known]
        known_set = set(upserted)
        await repository.copy_days(
            [(index, plan.staged[index]) for index in indices if index not in known_set]
        )
    outcome.written = await repository.upsert_days([(index, plan.staged[index]) for index in upserted])
    restatements: list[RestatementValues] = []
    owner: dict[object, int] = {}  # event_id -> record
    touched: set[str] = set()
    for index in indices:
        days = batch.days(index)
        written = outcome.written.get(index)
        if outcome.new_days(plan, index) or (written is not None and written.rewritten):
            touched.add(days.campaign_id)
        if written is not None and written.restated:
            for values in restatement_values(days, written.restated):
                restatements.append(values)
                owner[values[0]] = index
    outcome.restatements = await repository.insert_restatements(restatements)
    outcome.restated.update(owner[row.values[0]] for row in outcome.restatements)

    def identities(campaign_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        return [_identity(batch, plan.day_records[campaign_id]) for campaign_id in campaign_ids]

    outcome.campaigns = await repository.derive_campaigns(identities(sorted(touched - new)))
    fresh = sorted(touched & new)
    derived = await repository.derive_campaigns(
        identities(fresh), [_days_range(plan, plan.day_records[campaign_id]) for campaign_id in fresh]
    )
    # A "new" campaign whose row was not inserted had one after all: another writer of its partition (a
    # rebalance's old owner) stored it, and days outside this batch's, since the lookup. From all its days.
    stored_meanwhile = [campaign_id for campaign_id in fresh if not derived.get(campaign_id, False)]
    derived.update(await repository.derive_campaigns(identities(stored_meanwhile)))
    outcome.campaigns.update(derived)
    return outcome


def _days_range(plan: BatchPlan, indices: Sequence[int]) -> tuple[dt.date, dt.date]:
    """The first and last day these records of one campaign stage (a message's days ascend)."""
    if len(indices) == 1:
        rows = plan.staged[indices[0]]
        return rows[0][DATE], rows[-1][DATE]
    dates = [row[DATE] for index in indices for row in plan.staged.get(index, ())]
    return min(dates), max(dates)


def _identity(batch: CheckedBatch, indices: Sequence[int]) -> tuple[str, str, str]:
    """(campaign_id, name, sync_id) of a campaign's newest record in the batch (a later one wins a tie)."""
    newest = batch.days(max(indices, key=lambda index: (batch.days(index).fetched_at, index)))
    return newest.campaign_id, newest.name, newest.sync_id


def day_record_indices(plan: BatchPlan) -> list[int]:
    """The schema-2 records that win at least one day, in batch order."""
    return sorted(index for index, rows in plan.staged.items() if rows)
