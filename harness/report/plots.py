"""A requirement's timeline as one inline SVG (matplotlib, text kept as text):
success rate and TTFT p95 against their SLO lines, ready replicas, and the
traffic share by region, subset and model; fault windows shaded in every
panel, time to fail over and time to recover marked. Opens with no network."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

__all__ = ["timeline_svg"]

_FAULT = "#d62728"
_SLO = "#444444"


def _shade(ax: Axes, timeline: dict[str, Any], end: float) -> None:
    for f in timeline["faults"]:
        stop = f["end"] if f["end"] is not None else (f["undo"] if f["undo"] is not None else end)
        ax.axvspan(f["start"], max(stop, f["start"] + timeline["width_s"] / 4), color=_FAULT, alpha=0.12, lw=0)
        for key, label, style in (("failed_over_at", "failed over", "--"), ("recovered_at", "recovered", ":")):
            if f.get(key) is not None:
                ax.axvline(f[key], color=_FAULT, ls=style, lw=1.2, label=label)


def _series(ax: Axes, timeline: dict[str, Any], key: str, label: str, color: str) -> None:
    xs = [w + timeline["width_s"] / 2 for w in timeline["windows"]]
    ys = [float("nan") if v is None else v for v in timeline[key]]
    ax.plot(xs, ys, marker=".", color=color, lw=1.5, label=label)


def _moving_replicas(replicas: dict[str, list[list[float]]]) -> dict[str, list[list[float]]]:
    """The deployments whose ready count changed (a flat line per untouched
    deployment hides the one that moved); all of them summed when none did."""
    moving = {k: v for k, v in replicas.items() if v and len({p[1] for p in v}) > 1}
    if moving:
        return moving
    times = sorted({p[0] for v in replicas.values() for p in v})
    latest: dict[str, float] = {}
    total = []
    lookup = {k: dict((p[0], p[1]) for p in v) for k, v in replicas.items()}
    for t in times:
        for k in replicas:
            latest[k] = lookup[k].get(t, latest.get(k, 0.0))
        total.append([t, sum(latest.values())])
    return {"all deployments (none changed)": total}


def timeline_svg(timeline: dict[str, Any], title: str = "") -> str:
    """The SVG document text (no XML prolog), ready to inline in HTML."""
    shares = {k: v for k, v in timeline.get("shares", {}).items() if v}
    panels = ["success", "ttft"] + (["replicas"] if timeline.get("replicas") else []) + list(shares)
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(8.5, 1.55 * len(panels) + 0.6))
    axes_list = list(axes) if len(panels) > 1 else [axes]
    end = max([w + timeline["width_s"] for w in timeline["windows"]] or [timeline["width_s"]])
    slo = timeline.get("slo", {})
    for ax, panel in zip(axes_list, panels, strict=True):
        if panel == "success":
            _series(ax, timeline, "success_rate", "success rate", "#1f77b4")
            if slo.get("availability") is not None:
                ax.axhline(slo["availability"], color=_SLO, ls="-.", lw=1, label=f"SLO {slo['availability']:g}")
            ax.set_ylabel("success")
            ax.set_ylim(min([0.0, *[v for v in timeline["success_rate"] if v is not None]]) - 0.02, 1.02)
        elif panel == "ttft":
            _series(ax, timeline, "ttft_p95_ms", "TTFT p95", "#2ca02c")
            if slo.get("ttft_p95_ms") is not None:
                ax.axhline(slo["ttft_p95_ms"], color=_SLO, ls="-.", lw=1, label=f"SLO {slo['ttft_p95_ms']:g} ms")
            ax.set_ylabel("TTFT p95 ms")
        elif panel == "replicas":
            for name, points in _moving_replicas(timeline["replicas"]).items():
                ax.step([p[0] for p in points], [p[1] for p in points], where="post", label=name, lw=1.3)
            ax.set_ylabel("ready")
        else:
            xs = [w + timeline["width_s"] / 2 for w in timeline["windows"]]
            values = shares[panel]
            ys = [[0.0 if v is None else v for v in seq] for seq in values.values()]
            ax.stackplot(xs, ys, labels=list(values), alpha=0.85)
            ax.set_ylim(0, 1.0)
            ax.set_ylabel(f"share by\n{panel}")
        _shade(ax, timeline, end)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        if unique:
            ax.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
                      frameon=False)
        ax.grid(alpha=0.25)
        ax.tick_params(labelsize=7)
        ax.yaxis.label.set_size(8)
    axes_list[-1].set_xlabel("seconds since the run began; requests at their start time; fault windows shaded red",
                            fontsize=8)
    if title:
        axes_list[0].set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]
