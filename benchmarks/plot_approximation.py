"""The figure and the ratio table of docs/nystroem.md §5, from ``benchmarks/approximation.py``.

Reads that script's JSON results (every file given, merged by table; a (method, D) cell measured
twice keeps the later file's; the files must share the exact-KRR subsample) and

1. draws, per table, the relative distance ``‖f − f*‖/‖f*‖`` to exact KRR against the feature
   count D = M (top row) and against the fit time on the full training rows (bottom row:
   accuracy per second) into ``--output`` (PNG);
2. writes the ratios the Nyström issue asks for, per table and D — distance of levrf's leverage
   Nyström ÷ scikit-learn's uniform Nyström (target ≤ 0.8), of levrf's best random features ÷
   scikit-learn's Nyström, fit time of scikit-learn's Nyström ÷ levrf's uniform Nyström (target
   ≥ 3 at M ≥ 2,048) and test RMSE of leverage Nyström ÷ scikit-learn's — into ``--table``
   (markdown)::

    python benchmarks/plot_approximation.py benchmarks/results/approximation.json \\
        benchmarks/results/approximation_8192.json --output docs/img/approximation.png \\
        --table benchmarks/results/approximation_ratios.md
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

#: the methods drawn (the explicit-solver variants of levrf's uniform Nyström are the same
#: predictor as "levrf nystroem uniform" and are left out), with their line styles
STYLES = {
    "levrf gaussian": ("tab:blue", "o", "-"),
    "levrf qmc": ("tab:cyan", "s", "-"),
    "levrf leverage": ("tab:purple", "^", "-"),
    "levrf nystroem uniform": ("tab:green", "o", "-"),
    "levrf nystroem leverage": ("tab:red", "D", "-"),
    "sklearn Nystroem+Ridge": ("tab:olive", "o", "--"),
    "sklearn RBFSampler+Ridge": ("tab:gray", "s", "--"),
}
#: distances below this are drawn at it (a log axis has no 0)
FLOOR = 1e-9


def merged_tables(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """Tables in the first file's order, each with its rows keyed by (method, D); and the commands."""
    tables: dict[str, dict] = {}
    commands = []
    for path in paths:
        results = json.loads(path.read_text())
        commands.append(results["command"])
        for table in results["tables"]:
            entry = tables.setdefault(table["table"], {**table, "cells": {}})
            if entry["n_exact"] != table["n_exact"]:
                raise ValueError(f"{path}: table {table['table']} has its exact KRR on {table['n_exact']} rows, "
                                 f"{entry['n_exact']} in an earlier file; rerun with the same --exact")
            for row in table["rows"]:
                entry["cells"][(row["method"], row["D"])] = row
    return list(tables.values()), commands


def draw(tables: list[dict], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(tables), figsize=(3.6 * len(tables), 6.6), squeeze=False)
    for col, table in enumerate(tables):
        top, bottom = axes[0, col], axes[1, col]
        for method, (color, marker, line) in STYLES.items():
            cells = sorted((D, row) for (m, D), row in table["cells"].items()
                           if m == method and row["rel_distance"] is not None)
            if not cells:
                continue
            D = [d for d, _ in cells]
            dist = [max(row["rel_distance"], FLOOR) for _, row in cells]
            secs = [row["fit_seconds"] for _, row in cells]
            style = dict(color=color, marker=marker, ls=line, lw=1.2, ms=4)
            top.plot(D, dist, label=method, **style)
            bottom.plot(secs, dist, **style)
        top.set_title(f"{table['table']} (n = {table['n_train']:,}, d = {table['d']})", fontsize=10)
        top.set_xscale("log", base=2)
        top.set_xlabel("features D = centers M")
        bottom.set_xscale("log")
        bottom.set_xlabel("fit time on the training rows (s)")
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
        if col == 0:
            top.set_ylabel("‖f − f*‖ / ‖f*‖ (exact KRR)")
            bottom.set_ylabel("‖f − f*‖ / ‖f*‖ (exact KRR)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=output.name, suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)


def ratio_table(tables: list[dict], commands: list[str]) -> str:
    lines = ["## Nyström vs random features vs scikit-learn: the ratios", "",
             "From `python benchmarks/plot_approximation.py` on the results of: "
             + "; ".join(f"`{c}`" for c in commands) + ". Distances to exact KRR on the exact-KRR "
             "subsample; fit times and RMSE on the full training rows.", "",
             "| table | D = M | dist: levrf nyström leverage ÷ sklearn Nystroem (target ≤ 0.8) | "
             "dist: best levrf RF ÷ sklearn Nystroem | fit: sklearn Nystroem ÷ levrf nyström uniform "
             "(target ≥ 3 at M ≥ 2,048) | RMSE: levrf nyström leverage ÷ sklearn Nystroem |",
             "|---|---:|---:|---:|---:|---:|"]
    rf = ("levrf gaussian", "levrf qmc", "levrf leverage")
    for table in tables:
        cells = table["cells"]
        for D in sorted({D for (_m, D) in cells}):
            sk = cells.get(("sklearn Nystroem+Ridge", D))
            lev = cells.get(("levrf nystroem leverage", D))
            uni = cells.get(("levrf nystroem uniform", D))
            if sk is None or lev is None or uni is None or sk["rel_distance"] in (None, 0.0):
                continue
            best_rf = min((cells[(m, D)]["rel_distance"] for m in rf
                           if (m, D) in cells and cells[(m, D)]["rel_distance"] is not None), default=None)
            rf_cell = "—" if best_rf is None else f"{best_rf / sk['rel_distance']:.3g}"
            lines.append(f"| {table['table']} | {D} | {lev['rel_distance'] / sk['rel_distance']:.3g} | {rf_cell} | "
                         f"{sk['fit_seconds'] / uni['fit_seconds']:.3g} | {lev['test_rmse'] / sk['test_rmse']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="approximation.py JSON files")
    parser.add_argument("--output", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--table", type=Path, default=None, help="the markdown ratio table to write")
    cfg = parser.parse_args(argv)
    tables, commands = merged_tables(cfg.results)
    draw(tables, cfg.output)
    print(f"wrote {cfg.output} from: " + "; ".join(commands))
    if cfg.table is not None:
        text = ratio_table(tables, commands)
        tmp = cfg.table.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(cfg.table)
        print(text)


if __name__ == "__main__":
    main()
