"""Out-of-core, Dask-distributed RandomFeatureRidge on Parquet data, against one in-memory process.

The full run (issue 7): n = 10,000,000 rows × 16 columns written to disk as Parquet, chunk by
chunk (never all in memory), then ``RandomFeatureRidge(n_features=1024)`` (Gaussian weights,
D = 2,048) fitted through ``levrf.distributed.read_table`` on a ``distributed.LocalCluster``
with 2 single-threaded worker processes. Reported:

- completion, fit time and throughput (rows/s, reading Parquet included);
- peak RSS (``VmHWM``) of every process: the client (which also runs the scheduler and, in a
  ``LocalCluster``, the nannies) and each worker;
- the throughput of one in-memory process (torch/BLAS on all cores) fitting the first
  1,000,000 rows from a NumPy array, measured in a separate process before the cluster starts,
  and the ratio distributed / in-memory (target ≥ 0.7);
- with ``--quick`` (n = 1,000,000, the same rows as the in-memory fit) also the largest
  difference between the distributed and in-memory coefficients.

The data are deleted afterwards. Usage::

    python benchmarks/distributed.py            # full run, ~10^7 rows (about 30 min on 2 cores)
    python benchmarks/distributed.py --quick    # 10^6 rows

Writes its section of ``benchmarks/results/distributed.md`` (the full run and ``--quick`` have one
each) and ``benchmarks/results/distributed.json`` (``distributed_quick.json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this file is called distributed.py: keep its folder off sys.path so that `import distributed`
# finds the Dask package, here and in the processes spawned from here
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

RESULTS = Path(__file__).parent / "results"
RSS_LIMIT = 3e9
RATIO_TARGET = 0.7


def peak_rss() -> int:
    """This process's peak resident set size (``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def warm_up() -> None:
    """Import levrf (and torch) in a worker before the timed fit."""
    import levrf  # noqa: F401


def make_chunk(index: int, rows: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of chunk ``index``: ``X ~ N(0, I_d)``, ``y = sin(x₁) + x₂x₃/2 + 0.1ε`` (own seed per chunk)."""
    rng = np.random.default_rng([seed, index])
    X = rng.standard_normal((rows, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(rows)
    return X, y


def write_parquet(folder: Path, n: int, d: int, chunk_rows: int, seed: int) -> float:
    """Write n rows as one Parquet file per chunk; returns the bytes written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    names = [f"x{j}" for j in range(d)]
    for i, start in enumerate(range(0, n, chunk_rows)):
        X, y = make_chunk(i, min(chunk_rows, n - start), d, seed)
        table = pa.table({**{name: X[:, j] for j, name in enumerate(names)}, "y": y})
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=chunk_rows, compression="none")
    return float(sum(f.stat().st_size for f in folder.glob("*.parquet")))


def model_params(features: int) -> dict:
    import levrf

    return dict(kernel=levrf.GaussianKernel(4.0), n_features=features, alpha=1.0, random_state=0, fit_intercept=False)


def in_memory_fit(n: int, d: int, chunk_rows: int, seed: int, features: int, threads: int, queue) -> None:
    """Child process: fit on the first n rows held in a NumPy array; report time, RSS, coef."""
    import torch

    import levrf

    torch.set_num_threads(threads)
    X = np.empty((n, d))
    y = np.empty(n)
    for i, start in enumerate(range(0, n, chunk_rows)):
        Xi, yi = make_chunk(i, min(chunk_rows, n - start), d, seed)
        X[start : start + len(yi)], y[start : start + len(yi)] = Xi, yi
    t0 = time.perf_counter()
    model = levrf.RandomFeatureRidge(**model_params(features)).fit(X, y)
    seconds = time.perf_counter() - t0
    queue.put({"seconds": seconds, "peak_rss": peak_rss(), "coef": model.coef_.numpy().ravel().tolist()})


def run_in_memory(args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=in_memory_fit,
        args=(args.baseline_rows, args.columns, args.chunk_rows, args.seed, args.features, args.threads, queue),
    )
    proc.start()
    out = queue.get()
    proc.join()
    out["rows"] = args.baseline_rows
    out["rows_per_s"] = args.baseline_rows / out["seconds"]
    return out


def run_distributed(args, folder: Path) -> dict:
    import torch
    from distributed import Client, LocalCluster

    import levrf
    import levrf.distributed

    # one torch thread per worker even when this shell sets OMP_NUM_THREADS (workers inherit it)
    one = {var: "1" for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env=one)
    client = Client(cluster)
    try:
        client.run(warm_up)  # start-up imports are not part of the fit
        X, y = levrf.distributed.read_table(folder, target="y", chunk_rows=args.chunk_rows)
        t0 = time.perf_counter()
        model = levrf.RandomFeatureRidge(**model_params(args.features)).fit(X, y)
        seconds = time.perf_counter() - t0
        out = {
            "rows": int(X.shape[0]),
            "blocks": len(X.chunks[0]),
            "seconds": seconds,
            "rows_per_s": X.shape[0] / seconds,
            "worker_threads": client.run(torch.get_num_threads),
            "worker_peak_rss": client.run(peak_rss),
            "nanny_pids": client.run(os.getpid, nanny=True),
            "client_pid": os.getpid(),
            "client_peak_rss": peak_rss(),
            "coef": model.coef_.numpy().ravel().tolist(),
        }
    finally:
        client.close()
        cluster.close()
    return out


def markdown(res: dict, args) -> str:
    dist, mem = res["distributed"], res["in_memory"]
    gb = 1e9
    worst = max([*dist["worker_peak_rss"].values(), dist["client_peak_rss"]])
    lines = [
        "## Distributed fitting (Dask) — `benchmarks/distributed.py`" + (" --quick" if args.quick else ""),
        "",
        f"RandomFeatureRidge, GaussianKernel(4), {args.features} Gaussian weights (D = {2 * args.features}), "
        f"α = 1; synthetic X ~ N(0, I_{args.columns}), y = sin x₁ + x₂x₃/2 + 0.1ε, "
        f"stored as {res['files']} Parquet files ({res['bytes'] / gb:.2f} GB, {args.chunk_rows:,} rows each). "
        f"LocalCluster: {args.workers} worker processes × 1 thread; in-memory: one process, "
        f"{args.threads} torch/BLAS threads. Machine: {os.cpu_count()} cores, load average at start "
        f"{res['load_before']:.1f} (shared with other jobs: timings are noisy).",
        "",
        "| run | rows | fit time (s) | rows/s | peak RSS per process |",
        "|---|---:|---:|---:|---|",
        f"| distributed, Parquet on disk | {dist['rows']:,} | {dist['seconds']:.1f} | {dist['rows_per_s']:,.0f} | "
        f"client (+ scheduler, nannies) {dist['client_peak_rss'] / gb:.2f} GB; workers "
        + ", ".join(f"{v / gb:.2f}" for v in dist["worker_peak_rss"].values())
        + " GB |",
        f"| in memory, one process | {mem['rows']:,} | {mem['seconds']:.1f} | {mem['rows_per_s']:,.0f} | "
        f"{mem['peak_rss'] / gb:.2f} GB |",
        "",
        f"- completed: yes ({dist['blocks']} row blocks, every row counted); largest peak RSS of any "
        f"distributed process {worst / gb:.2f} GB (limit {RSS_LIMIT / gb:.0f} GB: "
        f"{'met' if worst <= RSS_LIMIT else 'NOT met'})",
        f"- throughput ratio distributed / in-memory: **{res['ratio']:.2f}** (target ≥ {RATIO_TARGET}: "
        f"{'met' if res['ratio'] >= RATIO_TARGET else 'NOT met'})",
    ]
    if "coef_max_diff" in res:
        lines.append(
            f"- same rows, same seed: max |β_distributed − β_in-memory| = {res['coef_max_diff']:.2e}"
        )
    lines += ["", f"Regenerate: `python benchmarks/distributed.py{' --quick' if args.quick else ''}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows instead of 10,000,000")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--columns", type=int, default=16)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--chunk-rows", type=int, default=125_000)
    parser.add_argument("--baseline-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="threads of the in-memory run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=None, help="where the Parquet files go (deleted after)")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)

    res: dict = {"load_before": os.getloadavg()[0]}
    print(f"in-memory fit of {args.baseline_rows:,} rows ...", flush=True)
    res["in_memory"] = run_in_memory(args)
    print(f"  {res['in_memory']['seconds']:.1f} s, {res['in_memory']['rows_per_s']:,.0f} rows/s", flush=True)

    folder = Path(tempfile.mkdtemp(prefix="levrf-bench-", dir=args.data_dir))
    try:
        print(f"writing {rows:,} rows to {folder} ...", flush=True)
        res["bytes"] = write_parquet(folder, rows, args.columns, args.chunk_rows, args.seed)
        res["files"] = len(list(folder.glob("*.parquet")))
        print(f"distributed fit of {rows:,} rows ...", flush=True)
        res["distributed"] = run_distributed(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    dist = res["distributed"]
    print(f"  {dist['seconds']:.1f} s, {dist['rows_per_s']:,.0f} rows/s", flush=True)
    res["ratio"] = dist["rows_per_s"] / res["in_memory"]["rows_per_s"]
    if rows == args.baseline_rows:
        res["coef_max_diff"] = float(np.max(np.abs(np.subtract(dist["coef"], res["in_memory"]["coef"]))))
    for part in ("distributed", "in_memory"):
        res[part].pop("coef")
    RESULTS.mkdir(exist_ok=True)
    stem = "distributed_quick" if args.quick else "distributed"
    (RESULTS / f"{stem}.json").write_text(json.dumps(res, indent=2, default=str))
    text = markdown(res, args)
    write_section(RESULTS / "distributed.md", text)
    print(text)


def write_section(path: Path, text: str) -> None:
    """Replace the ``## `` section with the same title in ``path`` (or append it)."""
    title = text.splitlines()[0]
    sections = []
    if path.exists():
        current: list[str] = []
        for line in path.read_text().splitlines():
            if line.startswith("## ") and current:
                sections.append("\n".join(current).strip() + "\n")
                current = []
            current.append(line)
        if current:
            sections.append("\n".join(current).strip() + "\n")
    sections = [s for s in sections if s.splitlines()[0] != title] + [text.strip() + "\n"]
    sections.sort(key=lambda s: "--quick" in s.splitlines()[0])  # the full run first
    path.write_text("\n".join(sections))


if __name__ == "__main__":
    main()
