"""``levrf demo``: small versions of the experiments on the default dataset, as a Markdown report."""

from __future__ import annotations

import json
from pathlib import Path

from .experiments import EXPERIMENTS

#: the demo's experiments and their small settings (each must exist in EXPERIMENTS to run)
DEMO_SETTINGS: dict[str, dict] = {
    "approx": {"dataset": "diamonds", "n": 1000, "alpha": 0.01, "features": (50, 100, 200, 400, 800),
               "samplers": ("gaussian", "leverage"), "seeds": 3},
}

DEMO_TEXT = {
    "approx": "Spectral error ε of Eq. 2 against the number of random weights m: how close "
              "ΨΨᵀ + αI is to K + αI in the spectral sense. Leverage sampling (Def. 3.1, at the "
              "regression α) reaches a given ε with fewer features than sampling from p.",
}


def approx_table(result) -> str:
    """Markdown table of the median ε per sampler and m."""
    head = "| m | " + " | ".join(f"ε {s}" for s in result.samplers) + " |"
    rule = "|---:|" + "---:|" * len(result.samplers)
    rows = [
        f"| {m} | " + " | ".join(f"{result.median(s)[i]:.4f}" for s in result.samplers) + " |"
        for i, m in enumerate(result.features)
    ]
    return "\n".join([head, rule, *rows])


TABLES = {"approx": approx_table}


def run_demo(out: Path, quiet: bool = False) -> Path:
    """Run every demo experiment, write ``out/report.md``, PNGs and ``out/results.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, results = [], {}
    for name, settings in DEMO_SETTINGS.items():
        if name not in EXPERIMENTS:
            continue
        result = EXPERIMENTS[name](quiet=quiet, **settings)
        paths = result.save(out, name)
        results[name] = result.to_dict()
        table = TABLES[name](result) if name in TABLES else ""
        if table and not quiet:
            print(f"\n{name}: {DEMO_TEXT.get(name, '')}\n{table}\n")
        sections.append(f"## {name}\n\n{DEMO_TEXT.get(name, '')}\n\n![{name}]({paths['png'].name})\n\n{table}\n")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    report = out / "report.md"
    report.write_text(
        "# levrf demo report\n\nRegenerate with `make demo` (or `levrf demo --out DIR`). "
        "Numbers are in results.json.\n\n" + "\n".join(sections)
    )
    return report
