"""Simulation plots: PNG figures of simulation reports (matplotlib, Agg canvas).

matplotlib is imported inside ``write_plots`` (it is heavy, and only ``--out``
needs it); figures are drawn on their own Agg canvas, never through pyplot's
global state. Each figure compares the reports given, one colour per market.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plexnet.compute.verification import detection_probability, faked_count

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from plexnet.compute.simulation_report import Report, SweepPoint

__all__ = ["PLOTS", "write_plots"]

PLOTS = ("cost_breakdown.png", "queue_delay_cdf.png", "fraud_vs_replication.png",
         "utilisation.png")
_PARTS = (("compute_usd", "compute"), ("transfer_usd", "transfer"),
          ("verification_usd", "verification"), ("risk_usd", "risk (churn, fraud re-runs)"))


def _new() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _costs(reports: Sequence[Report]) -> Figure:
    fig = _new()
    ax = fig.add_subplot()
    names = [r.market for r in reports]
    bottom = [0.0] * len(reports)
    for attr, label in _PARTS:
        per_hour = [getattr(r.cost, attr) / r.useful_gpu_hours if r.useful_gpu_hours else 0.0
                    for r in reports]
        ax.bar(names, per_hour, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, per_hour, strict=True)]
    for x, total in enumerate(bottom):
        ax.annotate(f"{total:.3f}", (x, total), ha="center", va="bottom")
    ax.set_ylabel("USD per useful reference GPU-hour")
    ax.set_title("Cost breakdown")
    ax.legend()
    return fig


def _delays(reports: Sequence[Report]) -> Figure:
    fig = _new()
    ax = fig.add_subplot()
    for r in reports:
        if r.delay_quantiles_s:
            ax.step(r.delay_quantiles_s, [q / 100 for q in range(101)], where="post",
                    label=f"{r.market} (p95 {r.queue_delay_p95_s or 0:,.0f} s)")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("queueing delay, s")
    ax.set_ylabel("share of jobs")
    ax.set_title("Queueing delay CDF")
    ax.legend()
    return fig


def _fraud(sweep: Sequence[SweepPoint], shards: int, fake_fraction: float) -> Figure:
    fig = _new()
    ax = fig.add_subplot()
    if sweep:
        shown = [p for p in sweep if p.caught_share is not None]
        ax.plot([p.replication for p in shown], [p.caught_share or 0.0 for p in shown], "o-",
                label="simulated: caught / (caught + missed)")
    k = faked_count(shards, fake_fraction) if fake_fraction > 0 else 0
    if k:
        rates = [i / 100 for i in range(0, 101, 2)]
        ax.plot(rates, [detection_probability(shards, k, min(shards, math.ceil(r * shards)))
                        for r in rates], "--",
                label=f"hypergeometric, {shards} shards, {k} faked")
    ax.set_xlabel("replication rate (fixed)")
    ax.set_ylabel("share of cheating tasks caught")
    ax.set_ylim(0, 1.05)
    ax.set_title("Fraud caught vs replication rate")
    ax.legend()
    return fig


def _utilisation(reports: Sequence[Report]) -> Figure:
    fig = _new()
    ax = fig.add_subplot()
    for r in reports:
        ax.plot([t / 86400 for t, _ in r.utilisation_series],
                [u for _, u in r.utilisation_series],
                label=f"{r.market} (overall {r.utilisation:.1%})")
    ax.set_xlabel("simulated time, days")
    ax.set_ylabel("busy devices / devices up")
    ax.set_title("Utilisation over time")
    ax.legend()
    return fig


def write_plots(out_dir: Path, reports: Sequence[Report], sweep: Sequence[SweepPoint] = (),
                *, shards: int = 50, fake_fraction: float = 0.1) -> list[Path]:
    """Write the four PNGs (``PLOTS``) into ``out_dir``, creating it; return their paths.

    Args:
        reports: one per market, drawn side by side.
        sweep: points of ``comparison.replication_sweep``; without them the fraud
            figure shows only the hypergeometric curve for ``shards`` and
            ``fake_fraction``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = (_costs(reports), _delays(reports), _fraud(sweep, shards, fake_fraction),
               _utilisation(reports))
    paths = []
    for name, fig in zip(PLOTS, figures, strict=True):
        fig.savefig(out_dir / name, format="png")
        paths.append(out_dir / name)
    return paths
