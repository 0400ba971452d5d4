"""``fastbatch bench --plot``: the ratios, the efficiency rows and the scaling table as one
PNG (needs matplotlib, imported by the caller and passed in as ``plt``)."""

import numpy as np


def _ratios(ax, rows):
    rows = [r for r in rows if r.get("ratio") is not None]
    ypos = np.arange(len(rows))
    colors = ["tab:gray" if r.get("floor") is None else
              "tab:green" if r.get("met") else "tab:red" for r in rows]
    ax.barh(ypos, [r["ratio"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        if r.get("floor"):
            ax.plot([r["floor"], r["floor"]], [i - 0.4, i + 0.4], color="black", lw=2)
    ax.set_yticks(ypos, [r["name"] for r in rows], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up over the baseline (black tick: the floor; green: met, red: "
                  "missed, grey: no floor)", fontsize=8)
    ax.invert_yaxis()


def _efficiency(ax, rows):
    ypos = np.arange(len(rows))
    ax.barh(ypos - 0.2, [r["of_random"] for r in rows], height=0.4,
            label="of the bare 2-thread random-row read")
    ax.barh(ypos + 0.2, [r["of_sequential"] for r in rows], height=0.4,
            label="of the bare sequential read")
    for i, r in enumerate(rows):
        if r.get("goal"):
            ax.plot([r["goal"], r["goal"]], [i - 0.4, i], color="black", lw=2)
    ax.set_yticks(ypos, [r["name"] for r in rows], fontsize=7)
    ax.set_xlabel("fastbatch's bytes/s as a fraction of the machine's limit", fontsize=8)
    # Above the axes, not over them: the bars reach every corner of the chart.
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.01), ncols=2,
              borderaxespad=0, frameon=False)
    ax.invert_yaxis()


def _scaling(ax, scaling):
    for s in scaling:
        ax.plot([p["n"] for p in s["points"]], [p["ns_per"] for p in s["points"]],
                marker="o", label=f"{s['name']} (per {s['per']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("ns per element")
    ax.legend(fontsize=7)


# Inches per character of a 7-point row label, and the width the bars themselves get.
LABEL_INCHES_PER_CHAR = 7 * 0.55 / 72
BARS_INCHES = 6.5


def report_figure(report, plt):
    """The report's charts as one matplotlib figure, laid out so that every row label
    and legend fits inside it (the long row names set the figure's width)."""
    parts = [(f, data) for f, data in ((_ratios, report["rows"]),
                                       (_efficiency, report.get("efficiency", [])),
                                       (_scaling, report.get("scaling", []))) if data]
    heights = [max(2.5, 0.3 * len(data) + 1) if f is not _scaling else 4 for f, data in parts]
    labels = [r["name"] for f, data in parts if f is not _scaling for r in data]
    width = BARS_INCHES + LABEL_INCHES_PER_CHAR * max(map(len, labels), default=0)
    fig, axes = plt.subplots(len(parts) or 1, 1, figsize=(max(width, 10), sum(heights) or 3),
                             gridspec_kw={"height_ratios": heights} if parts else None,
                             squeeze=False, layout="constrained")
    for ax, (draw, data) in zip(axes[:, 0], parts):
        draw(ax, data)
    m = report["machine"]
    fig.suptitle(f"fastbatch {m.get('fastbatch', '')}: {m.get('cpu', '')}", fontsize=9)
    return fig


def draw_report(report, path, plt):
    """Write the report's charts to ``path`` as a PNG.

    Examples
    --------
    >>> import matplotlib, tempfile, os
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> report = {"machine": {"cpu": "x", "fastbatch": "0"}, "rows": [], "efficiency": [],
    ...           "scaling": [{"name": "s", "per": "element",
    ...                        "points": [{"n": 10, "ns_per": 2.0}]}]}
    >>> path = os.path.join(tempfile.mkdtemp(), "r.png")
    >>> draw_report(report, path, plt)
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    fig = report_figure(report, plt)
    # "tight" as well: nothing drawn is ever cut off at the edges of the PNG.
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
