"""Late conversions, corrected from the data itself.

A day's conversions (and their value) keep arriving until the channel's attribution window has passed, so
yesterday looks like a conversion-rate collapse to any naive detector. The maturity factor of an age a
(days since the day, at the sync's as-of) is estimated across the channel's campaigns:

    f(a) = exp(median over campaigns of [log CVR of the day aged a - weekday factor - the campaign's
           mature log CVR])

where a campaign's mature log CVR is the median over its days already past the attribution window
(deseasonalised, at least ``min_mature_days`` of them). Days at or past the window have f = 1. The factors
are made non-decreasing in age and at most 1. Where too few campaigns have a mature reference, f is NaN and
the conversion detectors skip those days rather than guess. Nothing of the source's own curve is used.

Because f(a) is one number per day for the whole channel, it absorbs a change that hits every campaign of
the channel on that day alike: a channel-wide conversion collapse on the newest day cannot be told from
slow attribution (see the report's weaknesses).
"""

from __future__ import annotations

import numpy as np

from demetra_common.contracts import ATTRIBUTION_WINDOW_DAYS
from demetra_insights.core.baselines import Vector, quiet_nan, safe_log, weekday_factors
from demetra_insights.core.panel import ChannelPanel


def maturity_factors(
    panel: ChannelPanel, *, reference_days: int, min_mature_days: int, min_campaigns: int
) -> Vector:
    """f per panel column: the share of a day's eventual conversions already reported at ``as_of``."""
    window = ATTRIBUTION_WINDOW_DAYS[panel.channel]
    ages = panel.ages()
    factors = np.where(ages >= window, 1.0, np.nan)
    young = np.flatnonzero((ages < window) & (ages >= 0))
    if young.size == 0:
        return factors
    log_cvr = safe_log(panel.conversions, panel.clicks)
    mature = np.flatnonzero(ages >= window)[-reference_days:]
    if mature.size < min_mature_days:
        return factors
    weekdays = panel.weekdays()
    seasonal = weekday_factors(log_cvr[:, mature], weekdays[mature])
    deseasonalised = log_cvr - seasonal[weekdays]
    with quiet_nan():
        reference = np.nanmedian(deseasonalised[:, mature], axis=1)
    referenced = np.isfinite(deseasonalised[:, mature]).sum(axis=1) >= min_mature_days
    if referenced.sum() < min_campaigns:
        return factors
    gaps = deseasonalised[referenced][:, young] - reference[referenced, None]
    with quiet_nan():
        estimated = np.exp(np.nanmedian(gaps, axis=0))
    counted = np.isfinite(gaps).sum(axis=0) >= min_campaigns
    factors[young] = np.where(counted, np.minimum(estimated, 1.0), np.nan)
    # Older days are at least as complete as younger ones: walk from old to young keeping the minimum.
    order = np.argsort(-ages)
    known = np.isfinite(factors[order])
    factors[order] = np.where(known, np.fmin.accumulate(factors[order]), np.nan)
    return factors
