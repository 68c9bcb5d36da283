"""The ``levrf`` command: demo, experiments, and fit/predict on a user's own table.

Exit codes (also in ``levrf --help``): 0 ok, 2 usage (argparse), 3 data (a bad table, column or
value), 4 model file refused, 5 I/O (a file that cannot be read or written, or an output that
would overwrite an input or an existing file without ``--force``). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
import warnings
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_MODEL, EXIT_IO = 0, 2, 3, 4, 5
#: environment variable holding the model files' authenticity key (HMAC-SHA256; docs/security.md)
MODEL_KEY_VARIABLE = "LEVRF_MODEL_KEY"
EXIT_CODES_HELP = """environment:
  LEVRF_MODEL_KEY  when set, `fit` signs the model file with this key and `predict` refuses a
                   file not signed with it (HMAC-SHA256; see docs/security.md)

exit codes:
  0  success
  2  usage error (bad or missing arguments, an invalid --kernel spec)
  3  data error: a bad table, column or value (missing column, non-numeric target, no rows,
     infinite or overflowing values, too many rows for --method exact)
  4  model file refused: damaged, altered, not a levrf model file, or not a fitted regressor
  5  I/O error: a file cannot be read or written (missing file or directory, permission,
     --out is a directory), or --out is an input file, or --out exists and --force is not given
"""


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


def _kernel_spec(text: str) -> str:
    from .kernels import kernel_from_spec

    try:
        kernel_from_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _paragraph(text: str) -> str:
    return textwrap.fill(text, width=88)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every default, except for required options and options without one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default is None or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .experiments import EXPERIMENTS
    from .leverage import SAMPLERS
    from .tabular import (
        CATEGORICAL_MODES,
        CENTER_MODES,
        EXACT_MAX_ROWS,
        FEATURE_KINDS,
        LEVERAGE_METHODS,
        METHODS,
        MISSING_MODES,
        SOLVER_MODES,
    )

    parser = argparse.ArgumentParser(
        prog="levrf", formatter_class=_HelpFormatter, epilog=EXIT_CODES_HELP,
        description="Leverage-score sampling of random features: experiments, reports and models.",
    )
    parser.add_argument("--version", action="version", version=f"levrf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=_HelpFormatter, epilog=EXIT_CODES_HELP, **kwargs)

    demo = add("demo", help="run the main job on embedded data and write a report",
               description=_paragraph("Small versions of the experiments on the default dataset, "
                           "written as report.md, PNG figures and results.json."))
    demo.add_argument("--out", default="levrf-report", help="output folder")
    demo.add_argument("--full", action="store_true", help="the full-size demo (slower)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    exp = add("experiment", help="run one experiment and write JSON + PNG",
              description=_paragraph("Run one experiment: " + ", ".join(EXPERIMENTS)))
    exp.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    exp.add_argument("--dataset", default=None, help="embedded dataset name (levrf.datasets.NAMES); "
                                                     "default: the experiment's own")
    exp.add_argument("--kernel", type=_kernel_spec, default=None,
                     help="kernel spec, e.g. gaussian:bandwidth=2, relu-ntk, matern:nu=1.5; "
                          "default: the experiment's own")
    exp.add_argument("--alpha", type=_positive_float, default=None, help="ridge parameter α > 0")
    exp.add_argument("--features", type=_int_list, default=None, help="numbers of weights m, e.g. 100,400,1600")
    exp.add_argument("--seeds", type=int, default=None, help="number of seeds per point")
    exp.add_argument("--n", type=int, default=None, help="number of rows of the dataset to use")
    exp.add_argument("--out", default="levrf-results", help="output folder")
    exp.add_argument("--quiet", action="store_true", help="no progress bars")

    fit = add("fit", help="fit a ridge model to a CSV/Parquet table and save it",
              description=_paragraph("Fit a ridge model on the columns of a table and save it as a model file. Numeric "
                          "columns are standardized, categorical (text) columns one-hot encoded, missing values "
                          "imputed with the training median / most frequent value (a note on stderr says how "
                          "many); the model stores all of it, so `levrf predict` applies the same transform and "
                          "matches columns by name. The target is standardized too. Method: random-feature "
                          "ridge regression, or exact kernel ridge for kernels without random features "
                          f"(deep-relu-ntk), at most {EXACT_MAX_ROWS:,} rows. The summary line gives R² on a "
                          "held-out 10% of the rows, computed before the final fit on all rows."))
    fit.add_argument("--data", required=True, help="training table (.csv or .parquet)")
    fit.add_argument("--target", required=True, help="name of the (numeric) target column")
    fit.add_argument("--columns", default=None,
                     help="comma-separated predictor columns, not the target; default: all columns but the target")
    fit.add_argument("--kernel", type=_kernel_spec, default="gaussian",
                     help="kernel spec, e.g. gaussian:bandwidth=2, matern:nu=1.5, relu-ntk, deep-relu-ntk:depth=3 "
                          "(no bandwidth: sqrt(d), d the number of columns after encoding)")
    fit.add_argument("--method", choices=METHODS, default="auto",
                     help="random-features (RandomFeatureRidge) or exact (KernelRidge, an n × n kernel matrix, at "
                          f"most {EXACT_MAX_ROWS:,} rows); auto: exact only for kernels without random features")
    fit.add_argument("--features", type=_positive_int, default=256,
                     help="number of random weights m (with --features-kind nystrom: of centers)")
    fit.add_argument("--sampling", choices=sorted(SAMPLERS), default="gaussian", help="weight sampler")
    fit.add_argument("--features-kind", choices=FEATURE_KINDS, default="random",
                     help="random: random features (RandomFeatureRidge); nystrom: Nyström centers among the rows "
                          "(NystromRidge, --features centers; any kernel with a closed form)")
    fit.add_argument("--centers", choices=CENTER_MODES, default="uniform",
                     help="how --features-kind nystrom chooses its centers")
    fit.add_argument("--leverage-method", choices=LEVERAGE_METHODS, default="auto",
                     help="how --sampling leverage/rejection scores weights: exact (an n × n matrix, refused above "
                          "the leverage_exact_bytes budget, 2,048 rows), approximate (a row subsample, any n), or "
                          "auto (exact within the budget)")
    fit.add_argument("--solver", choices=SOLVER_MODES, default="auto",
                     help="how the ridge system is solved: cholesky (form Psi^T Psi, O(n·D²)), cg (matrix-free "
                          "preconditioned conjugate gradient, O(n·D) per iteration, a progress bar per iteration), "
                          "or auto (by the flop counts of the two; cholesky below 100,000 rows for random features "
                          "and below 10,000 for Nyström)")
    fit.add_argument("--alpha", type=_positive_float, default=1e-2, help="ridge parameter α > 0")
    fit.add_argument("--categorical", choices=CATEGORICAL_MODES, default="onehot",
                     help="non-numeric columns: one-hot encode (unseen categories at predict: all zeros), "
                          "drop them, or refuse them")
    fit.add_argument("--missing", choices=MISSING_MODES, default="impute",
                     help="missing values: impute (median / most frequent), drop the rows (predict then refuses "
                          "rows with a missing value), or refuse them; rows without a target are always dropped "
                          "except with error")
    fit.add_argument("--seed", type=int, default=0, help="random seed (weights and the held-out split)")
    fit.add_argument("--out", required=True, help="model file to write (never one of the inputs)")
    fit.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")

    pred = add("predict", help="predict with a saved model",
               description=_paragraph("Predict the rows of a table with a model written by `levrf fit`: the model's "
                           "predictor columns are taken from the table by name (any order; other columns are "
                           "ignored) and transformed as in training. A model saved from Python after a fit on a "
                           "NumPy array has no column names: the table must then have exactly its number of "
                           "columns, in training order. Writes a CSV with one column, prediction."))
    pred.add_argument("--model", required=True, help="model file written by `levrf fit`")
    pred.add_argument("--data", required=True, help="table (.csv or .parquet) with the model's columns")
    pred.add_argument("--out", required=True, help="CSV file for the predictions (never one of the inputs)")
    pred.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    pred.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _exit_code(exc: BaseException) -> int | None:
    from .persistence import ModelFileError

    if isinstance(exc, ModelFileError):  # before ValueError: it is one
        return EXIT_MODEL
    if isinstance(exc, OSError):
        return EXIT_IO
    if isinstance(exc, ValueError | TypeError):
        return EXIT_DATA
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from .progress import enable

    enable(not getattr(args, "quiet", False))
    prefix = f"levrf {args.command}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            message = COMMANDS[args.command](args)
        except Exception as exc:
            code = _exit_code(exc)
            if code is None:
                raise
            _print_warnings(prefix, caught)
            print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr)
            return code
    _print_warnings(prefix, caught)
    print(f"{message} ({time.perf_counter() - start:.1f} s)")
    return EXIT_OK


def _print_warnings(prefix: str, caught: list[warnings.WarningMessage]) -> None:
    from .tabular import TableNote

    for record in caught:
        kind = "note" if issubclass(record.category, TableNote) else "warning"
        print(f"{prefix}: {kind}: {_one_line(record.message)}", file=sys.stderr)


def _demo(args) -> str:
    from .report import run_demo

    report = run_demo(Path(args.out), quiet=args.quiet, full=args.full)
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


def model_key() -> str | None:
    """The model files' authenticity key: ``LEVRF_MODEL_KEY`` when set and non-empty."""
    return os.environ.get(MODEL_KEY_VARIABLE) or None


def _fit(args) -> str:
    from .persistence import save
    from .tabular import check_output_path, fit_table

    check_output_path(args.out, [args.data], force=args.force, name="--out")
    model, summary = fit_table(args.data, args.target, columns=args.columns, kernel=args.kernel,
                               n_features=args.features, sampling=args.sampling, alpha=args.alpha,
                               seed=args.seed, method=args.method, categorical=args.categorical,
                               missing=args.missing, features_kind=args.features_kind, centers=args.centers,
                               leverage_method=args.leverage_method, solver=args.solver)
    save(model, args.out, key=model_key())
    return f"{summary.describe()}; model written to {args.out}"


def _predict(args) -> str:
    import pandas as pd

    from .tabular import check_output_path, predict_table, write_csv_atomic

    check_output_path(args.out, [args.data, args.model], force=args.force, name="--out")
    prediction = predict_table(args.model, args.data, key=model_key())
    write_csv_atomic(pd.DataFrame({"prediction": prediction}), args.out)
    return f"predicted {len(prediction)} rows; written to {args.out}"


COMMANDS = {"demo": _demo, "experiment": _experiment, "fit": _fit, "predict": _predict}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
