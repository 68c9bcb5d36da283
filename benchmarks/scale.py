"""Beyond D = 8,192 (issue 19): levrf's direct and CG ridge solvers against Falkon, at scale.

Synthetic regression, d = 10, generated from a seed (no downloads)::

    x ~ N(0, I₁₀),   y = f*(x) + 0.25·ε,   f*(x) = sin x₁ + cos(x₂ + x₃) + ½x₄x₅ + ½ sin(x₆x₇)

so the best possible test RMSE is the noise standard deviation 0.25 (the script also prints the
RMSE of f* itself on the test rows). Rows come in chunks of 100,000, each from its own seed, so
the first n rows are the same for every n (n = 10⁵ ⊂ 10⁶ ⊂ 10⁷). Train n ∈ {10⁵, 10⁶} is held in
memory; n = 10⁷ is written to Parquet in a temporary folder chunk by chunk and streamed through
Dask (``levrf.distributed.read_table`` on a ``LocalCluster`` of 2 single-threaded workers). The
test set is 10⁵ fresh rows.

Methods, at D = M ∈ {2,048, 8,192, 16,384, 32,768} (levrf's random features: D/2 Gaussian
weights, each a cos/sin pair)::

    levrf RF direct       RandomFeatureRidge(solver="cholesky")      O(n·D²) Gram + Cholesky
    levrf RF CG           RandomFeatureRidge(solver="cg")            Ψ never stored
    levrf Nyström direct  NystromRidge(solver="cholesky")
    levrf Nyström CG      NystromRidge(solver="cg")
    Falkon                Falkon(GaussianKernel(σ), penalty=α/n, M)  use_cpu=True, keops_active="no"

and at n = 10⁷ the three levrf ``(Dask)`` twins of RF direct, RF CG and Nyström CG. Everyone gets
the same Gaussian kernel ``exp(−‖x − z‖²/2σ²)`` (checked at start on a few points, for levrf and
for Falkon, against the closed form), the same ridge (levrf minimises ‖y − f‖² + α‖f‖², Falkon
(1/n)‖y − f‖² + λ‖f‖², so λ = α/n: checked at start against exact KRR on a tiny problem, where
Falkon with every row a center must equal it) and the same CG iteration cap (``--max-iter``).

Every fit runs in its own subprocess (levrf from this interpreter, Falkon from ``--falkon-python``,
default ``/work/falkon-venv/bin/python``, else ``$LEVRF_FALKON_PYTHON``; without it Falkon is
skipped and the output says so) with ``--threads`` torch/BLAS threads, and reports its fit time,
test RMSE, CG iterations and peak RSS (``ru_maxrss`` of the child from ``wait4``: the whole
process, data included; its RSS before the fit is reported beside it). A direct fit whose time
predicted from its flop count exceeds ``--direct-limit`` seconds (or whose D × D matrices exceed
``--memory-limit``) is not run: its time is the prediction, marked "estimated". The prediction uses
rates measured in the same run, at D₀ = min(4,096, max D)::

    RF direct:      t = n·D²/R_syrk + c_rf·n·D + D³/(3·R_chol)
    Nyström direct: t = n·M²/R_syrk + c_ny·n·M² + t_setup(M₀)·(M/M₀)³ + M³/(3·R_chol)

(R_syrk: ``NormalEquations.add`` flops/s counting b·D² per b-row chunk; c_rf, c_ny: seconds of the
feature map per row and feature, resp. per row and M²; R_chol: Cholesky flops/s). The report
compares the prediction with every direct fit that did run. Where ``torch.cuda.is_available()``
a GPU section repeats the in-memory sizes with ``device="cuda"`` and Falkon ``use_cpu=False``.

Usage::

    python benchmarks/scale.py --quick                     # smoke test: n = 20,000, D ∈ {512, 2048}
    python benchmarks/scale.py --dry-run                   # checks, calibration, the plan with predicted direct times
    python benchmarks/scale.py                             # the whole grid: days on 2 cores, better in parts:
    python benchmarks/scale.py --n 1000000 --D 2048 8192 16384            # the issue's target figures
    python benchmarks/scale.py --merge --n 100000 1000000 --D 32768       # ... each part merged into the
    python benchmarks/scale.py --merge --n 100000 --D 2048 8192 16384     # same scale.{md,json}
    python benchmarks/scale.py --merge --n 10000000 --D 2048 8192         # the Parquet + Dask path

``--falkon-max-iter 20`` runs Falkon at its own default cap instead of levrf's (``--max-iter``).

Writes ``benchmarks/results/scale.{md,json}`` (``scale_quick.*`` with ``--quick``); the JSON is
rewritten after every fit, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# benchmarks/distributed.py sits beside this file: keep its folder off sys.path so that
# `import distributed` finds the Dask package (in the fit subprocesses too)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

RESULTS = Path(__file__).parent / "results"
N_COLUMNS = 10
NOISE_SD = 0.25
CHUNK_ROWS = 100_000
DEFAULT_FALKON_PYTHON = Path("/work/falkon-venv/bin/python")

FULL = dict(
    n=(100_000, 1_000_000, 10_000_000), dims=(2048, 8192, 16384, 32768), n_test=100_000, in_memory_max=1_000_000,
    dask_dims=(2048, 8192), ratio_D=16384, target_n=1_000_000, method_timeout=4 * 3600, max_iter=100,
)
QUICK = dict(
    n=(20_000,), dims=(512, 2048), n_test=10_000, in_memory_max=20_000, dask_dims=(512,), dask_n=20_000,
    ratio_D=2048, target_n=20_000, method_timeout=600, max_iter=30,
)
#: where the issue's targets apply: CG ÷ direct at (TARGET_N, TARGET_D), levrf ÷ Falkon at TARGET_N
TARGET_N, TARGET_D = 1_000_000, 16384
#: in-memory methods: label -> (library, family, solver)
METHODS = {
    "levrf RF direct": ("levrf", "rf", "cholesky"),
    "levrf RF CG": ("levrf", "rf", "cg"),
    "levrf Nyström direct": ("levrf", "nystrom", "cholesky"),
    "levrf Nyström CG": ("levrf", "nystrom", "cg"),
    "Falkon": ("falkon", "nystrom", "cg"),
}
#: methods of the streamed (Parquet + Dask) path
DASK_METHODS = {
    "levrf RF direct (Dask)": ("levrf", "rf", "cholesky"),
    "levrf RF CG (Dask)": ("levrf", "rf", "cg"),
    "levrf Nyström CG (Dask)": ("levrf", "nystrom", "cg"),
}
ALL_METHODS = {**METHODS, **DASK_METHODS}
CG_UNAVAILABLE = "levrf CG: not available in this checkout"
GB = 1e9


# ------------------------------------------------------------------------------------------ data
def target_function(X: np.ndarray) -> np.ndarray:
    """f*(x) = sin x₁ + cos(x₂ + x₃) + ½x₄x₅ + ½ sin(x₆x₇) (x₈…x₁₀ are noise columns)."""
    return (
        np.sin(X[:, 0]) + np.cos(X[:, 1] + X[:, 2]) + 0.5 * X[:, 3] * X[:, 4] + 0.5 * np.sin(X[:, 5] * X[:, 6])
    )


def make_chunk(index: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunk ``index`` (``CHUNK_ROWS`` rows) of a stream (0: training, 1: test): X, y, f*(X)."""
    rng = np.random.default_rng([seed, stream, index])
    X = rng.standard_normal((CHUNK_ROWS, N_COLUMNS))
    f = target_function(X)
    return X, f + NOISE_SD * rng.standard_normal(CHUNK_ROWS), f


def make_rows(n: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first n rows of a stream, assembled in place chunk by chunk."""
    X, y, f = np.empty((n, N_COLUMNS)), np.empty(n), np.empty(n)
    for i, start in enumerate(range(0, n, CHUNK_ROWS)):
        stop = min(n, start + CHUNK_ROWS)
        Xc, yc, fc = make_chunk(i, seed, stream)
        X[start:stop], y[start:stop], f[start:stop] = Xc[: stop - start], yc[: stop - start], fc[: stop - start]
    return X, y, f


def write_parquet(folder: Path, n: int, seed: int) -> float:
    """Write the first n training rows as one Parquet file per chunk; returns the bytes written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, n, CHUNK_ROWS)):
        X, y, _ = make_chunk(i, seed, 0)
        rows = min(CHUNK_ROWS, n - start)
        table = pa.table({**{f"x{j}": X[:rows, j] for j in range(N_COLUMNS)}, "y": y[:rows]})
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=CHUNK_ROWS, compression="none")
    return float(sum(f.stat().st_size for f in folder.glob("*.parquet")))


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64).ravel() - np.asarray(b).ravel()) ** 2)))


def gaussian_closed_form(A: np.ndarray, B: np.ndarray, sigma: float) -> np.ndarray:
    """exp(−‖a − b‖²/2σ²) from the differences (no cancellation)."""
    diff = A[:, None, :] - B[None, :, :]
    return np.exp(-np.einsum("ijk,ijk->ij", diff, diff) / (2.0 * sigma**2))


# ------------------------------------------------------------------------------------------ child side
def proc_status(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes (0 off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def warm_up() -> None:
    """Import levrf (and torch) in a Dask worker before the timed fit."""
    import levrf  # noqa: F401


def cg_available() -> dict:
    """Whether RandomFeatureRidge / NystromRidge take ``solver`` (the CG issue has landed)."""
    import levrf

    return {
        "rf": "solver" in levrf.RandomFeatureRidge().get_params(),
        "nystrom": "solver" in levrf.NystromRidge().get_params(),
    }


def levrf_model(spec: dict):
    import levrf

    kernel = levrf.GaussianKernel(spec["bandwidth"])
    common = dict(
        alpha=spec["alpha"], random_state=spec["seed"], fit_intercept=False, dtype=spec["dtype"], device=spec["device"]
    )
    family, solver = spec["family"], spec["solver"]
    if cg_available()[family]:
        common["solver"] = solver
        if solver == "cg":
            common.update(tol=spec["tol"], max_iter=spec["max_iter"])
    elif solver == "cg":
        raise RuntimeError(CG_UNAVAILABLE)
    if family == "rf":
        return levrf.RandomFeatureRidge(kernel, n_features=spec["D"] // 2, **common)
    return levrf.NystromRidge(kernel, n_components=spec["D"], **common)


def fit_levrf(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    cuda = spec["device"] == "cuda"
    X_test, y_test, _ = make_rows(spec["n_test"], spec["seed"], 1)
    out: dict = {}
    cluster = client = None
    if spec.get("parquet"):
        from distributed import Client, LocalCluster

        import levrf.distributed

        # one compute thread per worker: the workers inherit this process's OMP_NUM_THREADS
        # (the fit's thread count), and torch reads it at import, so without this each of the
        # single-threaded workers ran `threads` torch threads (4 on 2 cores)
        one = {var: "1" for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        cluster = LocalCluster(
            n_workers=spec["workers"], threads_per_worker=1, processes=True, dashboard_address=":0", env=one
        )
        client = Client(cluster)
        client.run(warm_up)
        X, y = levrf.distributed.read_table(spec["parquet"], target="y", chunk_rows=spec["chunk_rows"])
        out["blocks"] = len(X.chunks[0])
    else:
        X, y, _ = make_rows(spec["n"], spec["seed"], 0)
    try:
        model = levrf_model(spec)
        out["rss_before_fit"] = proc_status("VmRSS")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        model.fit(X, y)
        if cuda:
            torch.cuda.synchronize()
        out["fit_s"] = time.perf_counter() - t0
        if cuda:
            out["gpu_peak_bytes"] = int(torch.cuda.max_memory_allocated())
        if client is not None:
            out["worker_peak_rss"] = list(client.run(proc_status, "VmHWM").values())
            out["worker_threads"] = list(client.run(torch.get_num_threads).values())
    finally:
        if client is not None:
            client.close()
            cluster.close()
    out["rmse"] = rmse(model.predict(X_test), y_test)
    out["solver_"] = getattr(model, "solver_", None)
    n_iter = getattr(model, "n_iter_", None)
    out["n_iter"] = None if n_iter is None else int(np.max(np.asarray(n_iter)))
    residuals = getattr(model, "cg_residuals_", None)
    if residuals is not None and len(residuals):
        out["final_residual"] = float(np.max(np.asarray(residuals[-1], dtype=np.float64)))
    out["vmhwm"] = proc_status("VmHWM")
    return out


def falkon_options(spec: dict, **extra):
    from falkon import FalkonOptions

    kw = dict(use_cpu=spec["device"] != "cuda", keops_active="no", **extra)
    if spec.get("falkon_max_cpu_mem"):
        kw["max_cpu_mem"] = spec["falkon_max_cpu_mem"]
    return FalkonOptions(**kw)


def falkon_iterations():
    """Wrap Falkon's CG so that its iteration count can be read after the fit (a list of one)."""
    from falkon.optim import conjgrad

    count: list[int] = []
    original = conjgrad.FalkonConjugateGradient.solve

    def solve(self, *args, **kwargs):
        beta = original(self, *args, **kwargs)
        count.append(int(self.optimizer.num_iter) + 1)
        return beta

    conjgrad.FalkonConjugateGradient.solve = solve
    return count


def fit_falkon(spec: dict) -> dict:
    import torch
    from falkon import Falkon, kernels

    torch.set_num_threads(spec["threads"])
    dtype = getattr(torch, spec["dtype"])
    X, y, _ = make_rows(spec["n"], spec["seed"], 0)
    X_test, y_test, _ = make_rows(spec["n_test"], spec["seed"], 1)
    X, y = torch.from_numpy(X).to(dtype), torch.from_numpy(y).to(dtype).reshape(-1, 1)
    X_test = torch.from_numpy(X_test).to(dtype)
    opts = falkon_options(spec)
    iters = falkon_iterations()
    model = Falkon(
        kernel=kernels.GaussianKernel(spec["bandwidth"], opt=opts), penalty=spec["alpha"] / spec["n"], M=spec["D"],
        maxiter=spec["falkon_max_iter"], seed=spec["seed"], options=opts,
    )
    cuda = spec["device"] == "cuda"
    out = {"rss_before_fit": proc_status("VmRSS")}
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.fit(X, y)
    if cuda:
        torch.cuda.synchronize()
        out["gpu_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    out["fit_s"] = time.perf_counter() - t0
    out["rmse"] = rmse(model.predict(X_test).numpy(), y_test)
    out["n_iter"] = iters[-1] if iters else None
    out["vmhwm"] = proc_status("VmHWM")
    return out


def check_problem(spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiny problem of the conventions check: train X, y and test X."""
    rng = np.random.default_rng(spec["seed"])
    X = rng.standard_normal((spec["check_n"], N_COLUMNS))
    y = target_function(X) + NOISE_SD * rng.standard_normal(len(X))
    return X, y, rng.standard_normal((200, N_COLUMNS))


def check_levrf(spec: dict) -> dict:
    """levrf's Gaussian kernel on a few points, and its Nyström ridge with every row a center."""
    import levrf

    X, y, X_test = check_problem(spec)
    K = levrf.GaussianKernel(spec["bandwidth"])(X[:7], X_test[:5])
    out = {"kernel": np.asarray(K).tolist()}
    model = levrf.NystromRidge(
        levrf.GaussianKernel(spec["bandwidth"]), n_components=len(X), alpha=spec["alpha"], fit_intercept=False,
        random_state=0,
    ).fit(X, y)
    out["prediction"] = model.predict(X_test).tolist()
    return out


def check_falkon(spec: dict) -> dict:
    """Falkon's Gaussian kernel on a few points, and Falkon with M = n at λ = α/n and at λ = α."""
    import falkon
    import torch
    from falkon import Falkon, kernels

    X, y, X_test = check_problem(spec)
    opts = falkon_options(spec, cg_tolerance=1e-14)
    kernel = kernels.GaussianKernel(spec["bandwidth"], opt=opts)
    K = kernel(torch.from_numpy(X[:7]), torch.from_numpy(X_test[:5]))
    out = {"kernel": K.numpy().tolist(), "version": falkon.__version__, "torch": torch.__version__}
    Xt, yt, Xtt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1), torch.from_numpy(X_test)
    for name, penalty in (("alpha_over_n", spec["alpha"] / len(X)), ("alpha", spec["alpha"])):
        model = Falkon(kernel=kernel, penalty=penalty, M=len(X), maxiter=len(X), seed=0, options=opts).fit(Xt, yt)
        out[f"prediction_{name}"] = model.predict(Xtt).numpy().ravel().tolist()
    return out


def calibrate(spec: dict) -> dict:
    """Rates of the direct fit's parts at D₀ (for the flop-count estimates) and the machine's facts."""
    import torch

    import levrf
    from levrf.ridge.solvers import NormalEquations

    torch.set_num_threads(spec["threads"])
    D0 = spec["D0"]
    out = {"D0": D0, "torch": torch.__version__, "cuda": bool(torch.cuda.is_available()), "cg": cg_available()}
    if out["cuda"]:
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = {"name": props.name, "memory": int(props.total_memory)}

    def best(fn, repeats=3):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    X, _, _ = make_rows(CHUNK_ROWS, spec["seed"], 0)
    features = levrf.RandomFeatures(levrf.GaussianKernel(spec["bandwidth"]), n_features=D0 // 2, random_state=0).fit(X)
    b = min(features.chunk_size(spec["n_max"], N_COLUMNS), len(X))
    P = torch.from_numpy(features.transform(X[:b]))
    acc = NormalEquations(D0, 0, dtype=torch.float64, device=torch.device("cpu"))
    out["chunk_rows"] = b
    out["R_syrk"] = b * D0**2 / best(lambda: acc.add(P))
    out["c_rf"] = best(lambda: features.transform(X[:b])) / (b * D0)
    A = P[: min(b, 2 * D0)].T @ P[: min(b, 2 * D0)] + torch.eye(D0, dtype=torch.float64)
    out["R_chol"] = D0**3 / 3 / best(lambda: torch.linalg.cholesky(A))
    t0 = time.perf_counter()
    nystroem = levrf.Nystroem(levrf.GaussianKernel(spec["bandwidth"]), n_components=D0, random_state=0).fit(X)
    out["t_setup_ny"] = time.perf_counter() - t0
    out["c_ny"] = best(lambda: nystroem.transform(X[:b]), repeats=2) / (b * D0**2)
    out["levrf_version"] = getattr(levrf, "__version__", "?")
    return out


CHILD_TASKS = {
    "fit-levrf": fit_levrf, "fit-falkon": fit_falkon, "check-levrf": check_levrf, "check-falkon": check_falkon,
    "calibrate": calibrate,
}


def child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = CHILD_TASKS[spec["task"]](spec)
    Path(spec["out"]).write_text(json.dumps(result))


# ------------------------------------------------------------------------------------------ parent side
def child_env(threads: int, falkon: bool) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    if falkon:
        env.pop("PYTHONPATH", None)  # Falkon's interpreter never sees levrf
    return env


def run_child(python: str, spec: dict, timeout: float | None, log) -> dict:
    """Run one task in a fresh interpreter; its result, wall time, exit status and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="levrf-scale-") as tmp:
        spec = {**spec, "out": str(Path(tmp) / "out.json")}
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        log_path = Path(tmp) / "log.txt"
        t0 = time.perf_counter()
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(
                [python, str(Path(__file__).resolve()), "--child", str(spec_path)],
                stdout=log_file, stderr=subprocess.STDOUT, env=child_env(spec["threads"], spec["task"].endswith("falkon")),
            )
            status, rusage, timed_out = wait_with_timeout(proc, timeout)
        record: dict = {"wall_s": time.perf_counter() - t0, "peak_rss": rusage.ru_maxrss * 1024 if rusage else None}
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        out_path = Path(spec["out"])
        if code == 0 and out_path.exists():
            record.update(json.loads(out_path.read_text()))
            return record
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        reason = "timed out" if timed_out else (f"killed by signal {-code}" if code and code < 0 else f"exit {code}")
        error = next((line for line in reversed(tail) if line.strip()), reason)
        if CG_UNAVAILABLE in "\n".join(tail):
            error = CG_UNAVAILABLE
        record["error"] = f"{reason}: {error}" if error != reason else reason
        log("   " + "\n   ".join(tail[-6:]))
        return record


def wait_with_timeout(proc: subprocess.Popen, timeout: float | None):
    """``os.wait4`` on the child (its own rusage), killing it after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, False
        if deadline is not None and time.monotonic() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage, True
        time.sleep(0.2)


def find_falkon_python(option: str | None) -> str | None:
    if option:
        return option
    if DEFAULT_FALKON_PYTHON.exists():
        return str(DEFAULT_FALKON_PYTHON)
    return os.environ.get("LEVRF_FALKON_PYTHON") or None


def estimate_direct(family: str, n: int, D: int, cal: dict) -> float:
    """Predicted seconds of a direct fit from its flop count and the calibrated rates."""
    chol = D**3 / 3 / cal["R_chol"]
    if family == "rf":
        return n * D**2 / cal["R_syrk"] + cal["c_rf"] * n * D + chol
    return n * D**2 / cal["R_syrk"] + cal["c_ny"] * n * D**2 + cal["t_setup_ny"] * (D / cal["D0"]) ** 3 + chol


def direct_memory(family: str, D: int) -> float:
    """Bytes of the D × D float64 matrices of a direct fit, counted generously: Gram, its symmetric
    copy and its factor (for Nyström: Gram, factor, K_CC and its inverse square root)."""
    return (3 if family == "rf" else 4) * 8.0 * D**2


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    blas = os.environ.get("OPENBLAS_CORETYPE")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM" + (f", OPENBLAS_CORETYPE={blas}" if blas else "")


def run_checks(args, falkon_python: str | None, log) -> dict:
    """Kernel and penalty conventions of levrf and Falkon against closed forms (asserted)."""
    spec = dict(seed=args.seed, bandwidth=args.bandwidth, alpha=args.check_alpha, check_n=300, threads=args.threads,
                device="cpu", falkon_max_cpu_mem=None)
    X, y, X_test = check_problem(spec)
    K_exact = gaussian_closed_form(X[:7], X_test[:5], args.bandwidth)
    K_train = gaussian_closed_form(X, X, args.bandwidth)
    exact = gaussian_closed_form(X_test, X, args.bandwidth) @ np.linalg.solve(K_train + args.check_alpha * np.eye(len(X)), y)
    norm = float(np.linalg.norm(exact))
    out: dict = {"n": len(X), "alpha": args.check_alpha}
    lv = run_child(sys.executable, {**spec, "task": "check-levrf"}, 600, log)
    if "error" in lv:
        raise RuntimeError(f"levrf conventions check failed: {lv['error']}")
    out["levrf_kernel_max_abs_diff"] = float(np.max(np.abs(np.asarray(lv["kernel"]) - K_exact)))
    out["levrf_nystrom_vs_exact_krr"] = float(np.linalg.norm(np.asarray(lv["prediction"]) - exact)) / norm
    assert out["levrf_kernel_max_abs_diff"] < 1e-12, out
    assert out["levrf_nystrom_vs_exact_krr"] < 1e-6, out
    if falkon_python:
        fk = run_child(falkon_python, {**spec, "task": "check-falkon"}, 600, log)
        if "error" in fk:
            raise RuntimeError(f"Falkon conventions check failed: {fk['error']}")
        out["falkon_version"] = fk["version"]
        out["falkon_torch"] = fk["torch"]
        out["falkon_kernel_max_abs_diff"] = float(np.max(np.abs(np.asarray(fk["kernel"]) - K_exact)))
        for name in ("alpha_over_n", "alpha"):
            diff = np.asarray(fk[f"prediction_{name}"]) - exact
            out[f"falkon_{name}_vs_exact_krr"] = float(np.linalg.norm(diff)) / norm
        assert out["falkon_kernel_max_abs_diff"] < 1e-12, out
        assert out["falkon_alpha_over_n_vs_exact_krr"] < 1e-4, out
        assert out["falkon_alpha_vs_exact_krr"] > 100 * out["falkon_alpha_over_n_vs_exact_krr"], out
    return out


def plan(args, cfg) -> list[tuple[int, int, str, str]]:
    """(n, D, method, device) of every fit, in running order: in memory up to
    ``cfg["in_memory_max"]`` rows, Parquet + Dask above it (and, with ``--quick``, also at
    ``cfg["dask_n"]``, as a smoke test of that path), the streamed path at ``--dask-D`` only; the GPU section
    repeats the in-memory sizes."""
    runs = []
    for n in args.n:
        in_memory = n <= cfg["in_memory_max"]
        dask_dims = args.dask_D if not in_memory or n == cfg.get("dask_n") else ()
        for D in args.D:
            if in_memory:
                runs += [(n, D, m, "cpu") for m in args.methods if m in METHODS]
            if D in dask_dims:
                runs += [(n, D, m, "cpu") for m in args.methods if m in DASK_METHODS]
    if args.gpu:
        runs += [(n, D, m, "cuda") for n in args.n if n <= cfg["in_memory_max"] for D in args.D
                 for m in args.methods if m in METHODS]
    return runs


def run_all(args, cfg, falkon_python, cal, res, save, log) -> None:
    folders: dict[int, Path] = {}
    try:
        for n, D, method, device in plan(args, cfg):
            library, family, solver = ALL_METHODS[method]
            dask = method in DASK_METHODS
            entry = {"n": n, "D": D, "method": method, "device": device, "alpha": args.penalty * n,
                     "cap": args.falkon_max_iter if library == "falkon" else args.max_iter}
            base = dict(
                n=n, D=D, family=family, solver=solver, seed=args.seed, bandwidth=args.bandwidth, alpha=args.penalty * n,
                tol=args.tol, max_iter=args.max_iter, falkon_max_iter=args.falkon_max_iter, threads=args.threads,
                device=device, dtype=args.dtype,
                n_test=cfg["n_test"], falkon_max_cpu_mem=args.falkon_max_cpu_mem,
            )
            if library == "falkon" and not falkon_python:
                entry["skipped"] = "Falkon not installed: skipped"
            elif library == "levrf" and solver == "cg" and not cal["cg"][family]:
                entry["skipped"] = CG_UNAVAILABLE
            elif solver == "cholesky":
                entry["estimate_s"] = estimate_direct(family, n, D, cal) if device == "cpu" else None
                memory = direct_memory(family, D)
                limit = cal["gpu"]["memory"] * 0.8 if device == "cuda" else args.memory_limit
                if memory > limit:
                    entry["skipped"] = f"estimated: its D × D matrices need {memory / GB:.1f} GB > {limit / GB:.1f} GB"
                elif entry["estimate_s"] is not None and entry["estimate_s"] > args.direct_limit:
                    entry["skipped"] = f"estimated: predicted {entry['estimate_s']:.0f} s > --direct-limit {args.direct_limit:.0f} s"
            if "skipped" in entry:
                log(f"   {method:26s} n={n:>10,} D={D:6d} {device}: {entry['skipped']}")
                res["runs"].append(entry)
                save()
                continue
            if dask and n not in folders:
                folders[n] = Path(tempfile.mkdtemp(prefix="levrf-scale-", dir=args.data_dir))
                log(f"writing {n:,} rows to Parquet in {folders[n]} ...")
                t0 = time.perf_counter()
                res.setdefault("parquet", {})[str(n)] = {"bytes": write_parquet(folders[n], n, args.seed),
                                                         "seconds": time.perf_counter() - t0}
            if dask:
                base.update(parquet=str(folders[n]), workers=args.workers, chunk_rows=args.chunk_rows)
            python = falkon_python if library == "falkon" else sys.executable
            task = "fit-falkon" if library == "falkon" else "fit-levrf"
            fits = [run_child(python, {**base, "task": task}, args.method_timeout, log) for _ in range(args.repeats)]
            ok = [f for f in fits if "error" not in f]
            if ok:
                entry.update(min(ok, key=lambda f: f["fit_s"]) if args.repeats > 1 else ok[0])
                entry["fit_s_all"] = [f["fit_s"] for f in ok]
                if args.repeats > 1:
                    entry["fit_s"] = float(np.median(entry["fit_s_all"]))
            else:
                entry["error"] = fits[-1]["error"]
                entry["peak_rss"] = fits[-1].get("peak_rss")
            res["runs"].append(entry)
            save()
            if "error" in entry:
                log(f"   {method:26s} n={n:>10,} D={D:6d} {device}: FAILED {entry['error']}")
            else:
                cg_run = entry.get("n_iter") is not None and entry.get("solver_") != "cholesky"
                it = f" iters={entry['n_iter']}" if cg_run else ""
                est = f" (predicted {entry['estimate_s']:.1f} s)" if entry.get("estimate_s") else ""
                log(f"   {method:26s} n={n:>10,} D={D:6d} {device}: fit {entry['fit_s']:8.1f} s{est}, "
                    f"peak RSS {total_rss(entry) / GB:5.2f} GB, RMSE {entry['rmse']:.4f}{it}")
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


def fit_memory(entry: dict) -> float:
    """Peak RSS above the RSS just before the fit (interpreter, torch and the data excluded)."""
    return total_rss(entry) - float(entry.get("rss_before_fit") or 0)


def total_rss(entry: dict) -> float:
    """Peak RSS of a run: the child's, plus every Dask worker's for the Dask path."""
    return float((entry.get("peak_rss") or 0) + sum(entry.get("worker_peak_rss") or []))


# ------------------------------------------------------------------------------------------ report
def fit_time(entry: dict) -> tuple[float | None, bool]:
    """(seconds, estimated?) of a run: measured, else the direct fit's prediction."""
    if entry.get("fit_s") is not None:
        return entry["fit_s"], False
    if entry.get("estimate_s") is not None and str(entry.get("skipped", "")).startswith("estimated"):
        return entry["estimate_s"], True
    return None, False


def lookup(runs, n, D, method, device="cpu"):
    return next((r for r in runs if (r["n"], r["D"], r["method"], r["device"]) == (n, D, method, device)), None)


def fmt_time(entry) -> str:
    if entry is None:
        return "—"
    t, est = fit_time(entry)
    if t is None:
        return "—"
    return f"~{t:,.0f} (estimated)" if est else f"{t:,.1f}"


def summarize(res: dict, cfg: dict) -> dict:
    runs = [r for r in res["runs"] if r["device"] == "cpu"]
    out: dict = {"cg_vs_direct": [], "vs_falkon": [], "linearity": []}
    D0, n0 = cfg["ratio_D"], cfg["target_n"]
    for n in sorted({r["n"] for r in runs}):
        for cg, direct in (("levrf RF CG", "levrf RF direct"), ("levrf Nyström CG", "levrf Nyström direct"),
                           ("levrf RF CG (Dask)", "levrf RF direct (Dask)")):
            a, b = lookup(runs, n, D0, cg), lookup(runs, n, D0, direct)
            if a and b and fit_time(a)[0] and fit_time(b)[0]:
                out["cg_vs_direct"].append({
                    "n": n, "D": D0, "cg": cg, "direct": direct, "ratio": fit_time(a)[0] / fit_time(b)[0],
                    "direct_estimated": fit_time(b)[1], "target": 0.25 if (n, D0) == (TARGET_N, TARGET_D) else None,
                })
    for D in sorted({r["D"] for r in runs}):
        falkon = lookup(runs, n0, D, "Falkon")
        if not falkon or falkon.get("rmse") is None:
            continue
        for method in ("levrf RF direct", "levrf RF CG", "levrf Nyström direct", "levrf Nyström CG"):
            r = lookup(runs, n0, D, method)
            if not r or r.get("rmse") is None:
                continue
            rel = r["rmse"] / falkon["rmse"] - 1.0
            row = {"n": n0, "D": D, "method": method, "rmse_rel": rel, "within_1pct": rel <= 0.01,
                   "time_ratio": r["fit_s"] / falkon["fit_s"], "memory_ratio": total_rss(r) / total_rss(falkon),
                   "fit_memory_ratio": fit_memory(r) / fit_memory(falkon) if fit_memory(falkon) > 0 else None}
            row["target_met"] = row["within_1pct"] and row["time_ratio"] <= 0.5 and row["memory_ratio"] <= 0.25
            row["target_applies"] = n0 == TARGET_N
            out["vs_falkon"].append(row)
    methods = sorted({r["method"].replace(" (Dask)", "") for r in runs})
    for method in methods:
        for D in sorted({r["D"] for r in runs}):
            points = []
            for r in runs:
                if r["D"] == D and r["method"].replace(" (Dask)", "") == method and fit_time(r)[0]:
                    points.append((r["n"], fit_time(r)[0], fit_time(r)[1], r["method"].endswith("(Dask)")))
            points.sort()
            by_n = {}
            for p in points:  # one point per n: the in-memory fit where both paths ran (--quick)
                by_n.setdefault(p[0], p)
            points = sorted(by_n.values())
            if len(points) >= 2:
                (n1, t1, *_), (n2, t2, *_) = points[0], points[-1]
                out["linearity"].append({
                    "method": method, "D": D, "points": points, "exponent": math.log(t2 / t1) / math.log(n2 / n1),
                })
    model = []
    for r in runs:
        if r.get("fit_s") is not None and r.get("estimate_s"):
            model.append({"n": r["n"], "D": r["D"], "method": r["method"], "measured": r["fit_s"],
                          "predicted": r["estimate_s"], "ratio": r["estimate_s"] / r["fit_s"]})
    out["estimate_check"] = model
    return out


def run_table(runs, n, device) -> list[str]:
    lines = ["| method | D = M | fit time (s) | peak RSS (GB) | test RMSE | CG iterations / cap | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        if r["n"] != n or r["device"] != device:
            continue
        rss = total_rss(r)
        mem = f"{rss / GB:.2f}" if rss else "—"
        if r.get("worker_peak_rss"):
            mem += f" (client {r['peak_rss'] / GB:.2f} + workers " + " + ".join(f"{w / GB:.2f}" for w in r["worker_peak_rss"]) + ")"
        if r.get("gpu_peak_bytes"):
            mem += f"; GPU {r['gpu_peak_bytes'] / GB:.2f}"
        note = r.get("skipped") or r.get("error") or ""
        if r.get("rss_before_fit"):
            note = (note + "; " if note else "") + f"RSS before fit {r['rss_before_fit'] / GB:.2f} GB"
        if r.get("solver_"):
            note += f"; solver_={r['solver_']}"
        rm = f"{r['rmse']:.4f}" if r.get("rmse") is not None else "—"
        it = "—"
        if r.get("n_iter") is not None and r.get("solver_") != "cholesky":
            it = f"{r['n_iter']} / {r['cap']}" if r.get("cap") else str(r["n_iter"])
        lines.append(f"| {r['method']} | {r['D']:,} | {fmt_time(r)} | {mem} | {rm} | {it} | {note} |")
    return lines


def markdown(res: dict, summary: dict, cfg: dict, args) -> str:
    meta, checks, cal = res["meta"], res["checks"], res["calibration"]
    title = "## Scale: levrf direct vs CG vs Falkon (issue 19) — `benchmarks/scale.py`" + (" --quick" if args.quick else "")
    out = [title, "", f"Command: `{meta['command']}`", ""]
    if meta.get("earlier_commands"):
        out[-2] += " (merged with the runs of " + ", ".join(f"`{c}`" for c in meta["earlier_commands"]) + ")"
    load = f"load average {meta['load_before']:.1f} at start, {meta.get('load_after', math.nan):.1f} at the end"
    out += [
        f"Machine: {meta['machine']}; torch {cal['torch']}, {args.threads} torch/BLAS threads per fit (Dask: "
        f"{args.workers} workers × 1 thread), float64 unless stated; {load}"
        + (" — **measured under load (the machine was shared): timings are pessimistic and noisy**." if args.under_load else ".")
        + f" Total {meta.get('total_s', math.nan):,.0f} s.",
        "",
        f"Data: x ~ N(0, I₁₀), y = sin x₁ + cos(x₂ + x₃) + ½x₄x₅ + ½ sin(x₆x₇) + {NOISE_SD}·ε; test set "
        f"{cfg['n_test']:,} fresh rows. Best possible test RMSE = noise sd = **{NOISE_SD}** (f* itself scores "
        f"{res['oracle_rmse']:.4f} on these test rows). Gaussian kernel σ = {args.bandwidth}, Falkon penalty "
        f"λ = {args.penalty:g} (levrf α = λ·n), CG: levrf tol = {args.tol:g}; "
        + ("CG iteration caps: each run's, in the table's cap column (the runs were merged); Falkon at its default "
           "cg_tolerance. " if meta.get("earlier_commands") else
           f"max_iter = {args.max_iter}; Falkon maxiter = {args.falkon_max_iter} (its default cg_tolerance). ")
        + "levrf RF: D/2 Gaussian weights (cos/sin pairs); "
        "Nyström and Falkon: M = D uniform centers. Peak RSS: the fit's whole process (data included).",
        "",
    ]
    if not cal["cg"]["rf"] or not cal["cg"]["nystrom"]:
        out += [f"**{CG_UNAVAILABLE}** (RandomFeatureRidge / NystromRidge take no `solver`): the CG rows are skipped.", ""]
    if not res["falkon_python"]:
        out += ["**Falkon not installed: skipped** (no `--falkon-python`, no /work/falkon-venv, no $LEVRF_FALKON_PYTHON).", ""]
    out += ["### Conventions, checked at start (asserted)", "",
            f"- Gaussian kernel exp(−‖x − z‖²/2σ²) on 7 × 5 points: levrf max |ΔK| = {checks['levrf_kernel_max_abs_diff']:.1e}"
            + (f", Falkon {checks['falkon_kernel_max_abs_diff']:.1e}" if "falkon_kernel_max_abs_diff" in checks else "") + ".",
            f"- Exact KRR (K + αI)⁻¹y on {checks['n']} rows, α = {checks['alpha']}: levrf NystromRidge with every row a "
            f"center, relative prediction difference {checks['levrf_nystrom_vs_exact_krr']:.1e}"]
    if "falkon_alpha_over_n_vs_exact_krr" in checks:
        out[-1] += (f"; Falkon with M = n at λ = α/n: {checks['falkon_alpha_over_n_vs_exact_krr']:.1e}, at λ = α: "
                    f"{checks['falkon_alpha_vs_exact_krr']:.1e} — so λ = α/n is the matching penalty. Falkon "
                    f"{checks['falkon_version']} (built from source, torch {checks['falkon_torch']}), "
                    f"`{res['falkon_python']}`.")
    else:
        out[-1] += "."
    out += ["", f"Direct-fit rates measured in this run at D₀ = {cal['D0']} ({cal['chunk_rows']:,}-row chunks): "
            f"syrk R_syrk = {cal['R_syrk'] / 1e9:.1f} GFLOP/s (b·D² counted), random-feature map "
            f"{cal['c_rf'] * 1e9:.2f} ns per row and feature, Nyström map {cal['c_ny'] * 1e12:.2f} ps per row and M², "
            f"Nyström setup {cal['t_setup_ny']:.2f} s at M₀, Cholesky {cal['R_chol'] / 1e9:.1f} GFLOP/s (D³/3 counted).", ""]
    for device in ("cpu", "cuda"):
        for n in sorted({r["n"] for r in res["runs"] if r["device"] == device}):
            where = "GPU: " + cal.get("gpu", {}).get("name", "cuda") + ", " if device == "cuda" else ""
            out += [f"### {where}n = {n:,}", "", *run_table(res["runs"], n, device), ""]
    out += ["### Targets", ""]
    for row in summary["cg_vs_direct"]:
        target = (f" (target ≤ {row['target']}: {'met' if row['ratio'] <= row['target'] else 'NOT met'})" if row["target"]
                  else " (the ≤ 0.25 target applies at n = 10⁶, D = 16,384)")
        est = " — direct time estimated from its flop count" if row["direct_estimated"] else ""
        out.append(f"- n = {row['n']:,}, D = {row['D']:,}: {row['cg']} ÷ {row['direct']} time = **{row['ratio']:.3f}**{target}{est}.")
    if not summary["cg_vs_direct"]:
        out.append(f"- CG ÷ direct at D = {cfg['ratio_D']:,}: not measured (no CG or no direct run there).")
    if summary["vs_falkon"]:
        out += ["", f"levrf ÷ Falkon at n = {cfg['target_n']:,} and equal M (target: RMSE within 1% of Falkon's, time ≤ 0.5×, "
                "peak RSS ≤ 0.25×; the target applies at n = 10⁶; the fit-memory ratio leaves out the RSS before the fit):", "",
                "| D = M | method | RMSE vs Falkon | time ratio | peak RSS ratio | fit-memory ratio | target |",
                "|---:|---|---:|---:|---:|---:|---|"]
        for row in summary["vs_falkon"]:
            verdict = ("met" if row["target_met"] else "not met") if row["target_applies"] else "n/a (n ≠ 10⁶)"
            fm = "—" if row["fit_memory_ratio"] is None else f"{row['fit_memory_ratio']:.3f}"
            out.append(f"| {row['D']:,} | {row['method']} | {100 * row['rmse_rel']:+.2f}% | {row['time_ratio']:.3f} | "
                       f"{row['memory_ratio']:.3f} | {fm} | {verdict} |")
    else:
        out.append(f"- levrf ÷ Falkon at n = {cfg['target_n']:,}: no Falkon run to compare with.")
    if summary["linearity"]:
        out += ["", "Fit time vs n at fixed D (exponent b of t ∝ nᵇ between the smallest and largest n; target ≤ 1; "
                "the largest n runs through Parquet + Dask where marked):", ""]
        for row in summary["linearity"]:
            pts = ", ".join(f"n={p[0]:,}: {p[1]:,.1f} s{' est.' if p[2] else ''}{' Dask' if p[3] else ''}" for p in row["points"])
            out.append(f"- {row['method']}, D = {row['D']:,}: {pts} → b = **{row['exponent']:.2f}**")
    if summary["estimate_check"]:
        out += ["", "Flop-count prediction of the direct fits against the ones that ran: "
                + ", ".join(f"{r['method']} n={r['n']:,} D={r['D']:,}: {r['predicted']:.1f} s predicted / {r['measured']:.1f} s measured"
                            for r in summary["estimate_check"]) + "."]
    if not res["calibration"]["cuda"]:
        out += ["", "GPU section: not run (torch.cuda.is_available() is False on this machine)."]
    out += [""]
    return "\n".join(out)


def write_section(path: Path, text: str) -> None:
    """Replace the ``## `` section with the same title in ``path`` (or append it), full run first."""
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
    sections.sort(key=lambda s: "--quick" in s.splitlines()[0])
    path.write_text("\n".join(sections))


# ------------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: n = 20,000, D ∈ {512, 2048}, minutes")
    parser.add_argument("--n", type=int, nargs="+", default=None, help="training sizes (default: the mode's)")
    parser.add_argument("--D", type=int, nargs="+", default=None, help="D = M values (default: the mode's)")
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=list(ALL_METHODS), metavar="METHOD")
    parser.add_argument("--falkon-python", default=None, help="interpreter with Falkon installed")
    parser.add_argument("--bandwidth", type=float, default=3.0, help="Gaussian σ for every method")
    parser.add_argument("--penalty", type=float, default=1e-6, help="Falkon's λ; levrf's α = λ·n")
    parser.add_argument("--check-alpha", type=float, default=1.0, help="α of the tiny exact-KRR check")
    parser.add_argument("--tol", type=float, default=1e-6, help="levrf CG tolerance")
    parser.add_argument("--max-iter", type=int, default=None, help="CG iteration cap, levrf and Falkon (default "
                        "100; --quick: 30)")
    parser.add_argument("--falkon-max-iter", type=int, default=None, help="Falkon's maxiter (default: --max-iter; "
                        "Falkon's own default is 20)")
    parser.add_argument("--merge", action="store_true", help="keep the runs of an earlier --output that this "
                        "command does not redo (to run the full benchmark in parts)")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (1 thread each)")
    parser.add_argument("--dask-D", type=int, nargs="+", default=None, help="D = M values of the streamed "
                        "(Parquet + Dask) path (default 2,048 and 8,192; --quick: 512)")
    parser.add_argument("--dry-run", action="store_true", help="checks and calibration, then print the plan "
                        "(with the direct fits' predicted times) and stop")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per Dask block")
    parser.add_argument("--direct-limit", type=float, default=3600.0, help="seconds; slower direct fits are estimated")
    parser.add_argument("--memory-limit", type=float, default=None, help="bytes for a direct fit's D × D matrices "
                        "(default 0.75 × RAM)")
    parser.add_argument("--method-timeout", type=float, default=None, help="seconds before a fit is killed")
    parser.add_argument("--falkon-max-cpu-mem", type=float, default=None, help="FalkonOptions.max_cpu_mem (bytes)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per cell (median time reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU section even with CUDA")
    parser.add_argument("--under-load", action="store_true", help="say in the report that the machine was shared")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the Parquet files go (deleted after)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    for name in ("n", "D"):
        values = getattr(args, name)
        if values is not None and any(v < 1 for v in values):
            parser.error(f"--{name} values must be positive integers, got {values}")
    if any(v is not None and v < 1 for v in (args.max_iter, args.falkon_max_iter)) or args.threads < 1 or args.repeats < 1 or args.workers < 1:
        parser.error("--max-iter, --threads, --repeats and --workers must be positive")
    if not (args.penalty > 0 and args.bandwidth > 0 and args.tol > 0 and args.check_alpha > 0):
        parser.error("--penalty, --bandwidth, --tol and --check-alpha must be positive")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    args.n = sorted(args.n or cfg["n"])
    args.D = sorted(args.D or cfg["dims"])
    args.max_iter = args.max_iter or cfg["max_iter"]
    args.dask_D = sorted(args.dask_D or cfg["dask_dims"])
    args.falkon_max_iter = args.falkon_max_iter or args.max_iter
    if args.memory_limit is None:
        args.memory_limit = 0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if args.method_timeout is None:
        args.method_timeout = cfg["method_timeout"]
    output = args.output or RESULTS / ("scale_quick.md" if args.quick else "scale.md")
    t_start = time.perf_counter()

    def log(msg):
        print(msg, flush=True)

    falkon_python = find_falkon_python(args.falkon_python)
    if falkon_python and not Path(falkon_python).exists():
        log(f"Falkon not installed: skipped ({falkon_python} does not exist)")
        falkon_python = None
    if not falkon_python:
        log("Falkon not installed: skipped")
    command = shlex.join(["python", "benchmarks/scale.py", *(sys.argv[1:] if argv is None else argv)])
    res: dict = {
        "meta": {"command": command, "machine": machine_description(), "load_before": os.getloadavg()[0],
                 "mode": "quick" if args.quick else "full", "args": {k: str(v) for k, v in vars(args).items()}},
        "falkon_python": falkon_python, "runs": [],
    }
    _, _, f_test = make_rows(cfg["n_test"], args.seed, 1)
    _, y_test, _ = make_rows(cfg["n_test"], args.seed, 1)
    res["oracle_rmse"] = rmse(f_test, y_test)
    log(f"best possible test RMSE: noise sd {NOISE_SD} (f* scores {res['oracle_rmse']:.4f} on the test rows)")
    log("checking kernel and penalty conventions ...")
    res["checks"] = run_checks(args, falkon_python, log)
    log("  " + json.dumps(res["checks"]))
    log("calibrating the direct fit's rates ...")
    cal_spec = dict(task="calibrate", seed=args.seed, bandwidth=args.bandwidth, threads=args.threads,
                    D0=min(4096, max(args.D)), n_max=max(args.n))
    cal = run_child(sys.executable, cal_spec, 1800, log)
    if "error" in cal:
        raise RuntimeError(f"calibration failed: {cal['error']}")
    res["calibration"] = cal
    log("  " + json.dumps({k: v for k, v in cal.items() if k not in ("wall_s", "peak_rss")}))
    if not (cal["cg"]["rf"] and cal["cg"]["nystrom"]):
        log(CG_UNAVAILABLE)
    args.gpu = cal["cuda"] and not args.no_gpu
    json_path = output.with_suffix(".json")
    output.parent.mkdir(parents=True, exist_ok=True)

    def save():
        json_path.write_text(json.dumps(res, indent=1, default=str) + "\n")

    if args.dry_run:
        for n, D, method, device in plan(args, cfg):
            family, solver = ALL_METHODS[method][1:]
            est = f"predicted {estimate_direct(family, n, D, cal):,.0f} s" if solver == "cholesky" else ""
            log(f"   {method:26s} n={n:>10,} D={D:6d} {device} {est}")
        return res
    if args.merge and json_path.exists():
        previous = json.loads(json_path.read_text())
        redone = {(n, D, m, dev) for n, D, m, dev in plan(args, cfg)}
        res["runs"] = [r for r in previous["runs"] if (r["n"], r["D"], r["method"], r["device"]) not in redone]
        res["meta"]["earlier_commands"] = [*previous["meta"].get("earlier_commands", []), previous["meta"]["command"]]
        log(f"merging: kept {len(res['runs'])} runs of {json_path}")
    run_all(args, cfg, falkon_python, cal, res, save, log)
    res["runs"].sort(key=lambda r: (r["device"] != "cpu", r["n"], r["D"], list(ALL_METHODS).index(r["method"])))
    res["meta"]["total_s"] = time.perf_counter() - t_start
    res["meta"]["load_after"] = os.getloadavg()[0]
    summary = summarize(res, cfg)
    res["summary"] = summary
    save()
    text = markdown(res, summary, cfg, args)
    write_section(output, text)
    print(text)
    return res


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
    else:
        main()
