"""The ``levrf`` command: demo, experiments, and fit/predict on a user's own table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .experiments import EXPERIMENTS

    parser = argparse.ArgumentParser(
        prog="levrf",
        description="Leverage-score sampling of random features: experiments, reports and models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the main job on embedded data and write a report",
                          description="Small versions of the experiments on the default dataset, "
                                      "written as report.md, PNG figures and results.json.")
    demo.add_argument("--out", default="levrf-report", help="output folder (default: levrf-report)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    exp = sub.add_parser("experiment", help="run one experiment and write JSON + PNG",
                         description="Run one experiment: " + ", ".join(EXPERIMENTS))
    exp.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    exp.add_argument("--dataset", default=None, help="embedded dataset name (levrf.datasets.NAMES)")
    exp.add_argument("--kernel", default=None,
                     help="kernel spec, e.g. gaussian:bandwidth=2, relu-ntk, matern:nu=1.5")
    exp.add_argument("--alpha", type=_positive_float, default=None, help="ridge parameter α > 0")
    exp.add_argument("--features", type=_int_list, default=None, help="numbers of weights m, e.g. 100,400,1600")
    exp.add_argument("--seeds", type=int, default=None, help="number of seeds per point")
    exp.add_argument("--n", type=int, default=None, help="number of rows of the dataset to use")
    exp.add_argument("--out", default="levrf-results", help="output folder")
    exp.add_argument("--quiet", action="store_true", help="no progress bars")

    fit = sub.add_parser("fit", help="fit random-feature ridge regression to a CSV/Parquet table",
                         description="Fit RandomFeatureRidge on the numeric columns of a table.")
    fit.add_argument("--data", required=True, help="training table (.csv or .parquet)")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument("--columns", default=None, help="comma-separated predictor columns (default: all others)")
    fit.add_argument("--kernel", default="gaussian", help="kernel spec (default gaussian, bandwidth sqrt(d))")
    fit.add_argument("--features", type=int, default=256, help="number of random weights m")
    fit.add_argument("--sampling", default="gaussian", help="weight sampler: gaussian, qmc, leverage, rejection, surrogate")
    fit.add_argument("--alpha", type=_positive_float, default=1e-2, help="ridge parameter α > 0")
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    fit.add_argument("--out", required=True, help="model file to write")
    fit.add_argument("--quiet", action="store_true")

    pred = sub.add_parser("predict", help="predict with a saved model",
                          description="Predict the rows of a table with a model written by `levrf fit`.")
    pred.add_argument("--model", required=True, help="model file written by `levrf fit`")
    pred.add_argument("--data", required=True, help="table (.csv or .parquet) with the model's columns")
    pred.add_argument("--out", required=True, help="CSV file for the predictions")
    pred.add_argument("--quiet", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from .progress import enable

    enable(not getattr(args, "quiet", False))
    try:
        message = COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        print(f"levrf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print(f"{message} ({time.perf_counter() - start:.1f} s)")
    return 0


def _demo(args) -> str:
    from .report import run_demo

    report = run_demo(Path(args.out), quiet=args.quiet)
    return f"demo report written to {report}"


def _experiment(args) -> str:
    from .experiments import EXPERIMENTS

    options = {k: v for k, v in {
        "dataset": args.dataset, "kernel": args.kernel, "alpha": args.alpha,
        "features": args.features, "seeds": args.seeds, "n": args.n,
    }.items() if v is not None}
    result = EXPERIMENTS[args.name](quiet=args.quiet, **options)
    paths = result.save(Path(args.out), args.name)
    return f"experiment {args.name}: wrote {paths['json']} and {paths['png']}"


def _fit(args) -> str:
    from .tabular import fit_table

    model, n_rows = fit_table(args.data, args.target, columns=args.columns, kernel=args.kernel,
                              n_features=args.features, sampling=args.sampling, alpha=args.alpha,
                              seed=args.seed, out=args.out)
    return f"fitted {type(model).__name__} on {n_rows} rows; model written to {args.out}"


def _predict(args) -> str:
    from .tabular import predict_table

    n_rows = predict_table(args.model, args.data, args.out)
    return f"predicted {n_rows} rows; written to {args.out}"


COMMANDS = {"demo": _demo, "experiment": _experiment, "fit": _fit, "predict": _predict}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
