"""Robust, day-of-week aware baselines of a metric, vectorised over campaigns.

Method (every metric is handled on the log scale, so a doubling and a halving are equally far away):
1. Weekday factors: the channel's pooled profile. For each weekday, the median over all campaigns and all
   days of the window of (log value - the campaign's window median). Pooling over the channel gives 4 x
   (campaigns) observations per weekday instead of 4, so one campaign's bad Monday does not become its
   "normal Monday".
2. The campaign's baseline: over the trailing window (28 days before the evaluated day), the median of the
   deseasonalised log values, and a scale of 1.4826 x their median absolute deviation (a robust standard
   deviation). A MAD of 28 days is itself noisy (one campaign in twenty gets a scale 30% too small, and its
   normal days then look like 4-sigma events), so it is shrunk towards the channel's typical scale for the
   metric (the median over campaigns) as if that were ``pool_days`` extra days of evidence:
   scale^2 = (n x mad_scale^2 + pool_days x channel_scale^2) / (n + pool_days); then a floor, so a very
   steady campaign does not alarm on a 5% move.
3. A day is scored by z = (deseasonalised log value - median) / scale; its expected value is
   exp(median + weekday factor).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from demetra_insights.core.panel import Matrix

Vector = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826


@contextmanager
def quiet_nan() -> Iterator[None]:
    """numpy warns on all-NaN slices (a campaign without history); those simply give NaN."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def safe_log(numerator: Matrix, denominator: Matrix | float = 1.0) -> Matrix:
    """log(numerator / denominator) where both are positive, NaN elsewhere."""
    with quiet_nan():
        ratio = np.divide(numerator, denominator)
        return np.where((ratio > 0) & np.isfinite(ratio), np.log(np.where(ratio > 0, ratio, 1.0)), np.nan)


def weekday_factors(window: Matrix, weekdays: npt.NDArray[np.int64]) -> Vector:
    """The channel's log weekday profile (7 values) from a campaigns x days window."""
    with quiet_nan():
        centred = window - np.nanmedian(window, axis=1, keepdims=True)
        factors = np.zeros(7)
        for weekday in range(7):
            cells = centred[:, weekdays == weekday]
            if np.isfinite(cells).any():
                factors[weekday] = float(np.nanmedian(cells))
    return factors


@dataclass(frozen=True, eq=False)
class Baseline:
    """Per campaign: median and robust scale of the deseasonalised log metric, and the days behind them."""

    centre: Vector
    scale: Vector
    history: npt.NDArray[np.int64]

    def z(self, deseasonalised: Vector) -> Vector:
        with quiet_nan():
            return (deseasonalised - self.centre) / self.scale


def robust_baseline(deseasonalised: Matrix, floor: float, pool_days: float) -> Baseline:
    """Median and the pooled robust scale (see the module) of each row, ignoring NaN."""
    with quiet_nan():
        centre = np.nanmedian(deseasonalised, axis=1)
        own = MAD_TO_SIGMA * np.nanmedian(np.abs(deseasonalised - centre[:, None]), axis=1)
        history = np.isfinite(deseasonalised).sum(axis=1)
        channel = np.nanmedian(own[history >= 7]) if (history >= 7).any() else np.nan
        pooled = np.sqrt((history * own**2 + pool_days * channel**2) / (history + pool_days))
        scale = np.where(np.isfinite(pooled), pooled, own)
    return Baseline(centre, np.fmax(scale, floor), history)
