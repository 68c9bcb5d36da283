"""Assemble BENCHMARKS.md from the sections that each benchmark writes to benchmarks/results/.

Every section names the command that regenerates it; this script only collects them:

    python benchmarks/collect.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: (results file, what it measures) in reading order
SECTIONS = [
    ("leverage.md", "leverage scores: spectral approximation, speed, approximate method"),
    ("leverage_prediction.md", "leverage sampling with sampling_alpha='auto': ridge prediction"),
    ("auto_rule.md", "where sampling_alpha='auto' switches to leverage, and with which mixture"),
    ("qmc_rule.md", "where quasi-Monte Carlo weights beat i.i.d. ones (sampling='qmc')"),
    ("krr.md", "kernel ridge regression against scikit-learn: diamonds and flights, D ≤ 4,096"),
    ("krr_gpu.md", "the same on an H100 GPU (levrf device='cuda') against scikit-learn on that machine's 16 CPUs"),
    ("memory_streaming.md", "streaming fit memory, 2,000,000 rows"),
    ("nn.md", "networks: GD step cost and width sweeps"),
    ("distributed.md", "Dask-distributed fitting"),
    ("approximation.md", "Nyström (uniform, leverage centers) vs random features vs scikit-learn at equal D ≤ 4,096"),
    ("approximation_8192.md", "the same at D = M = 8,192"),
    ("approximation_ratios.md", "the ratios of both (leverage Nyström ÷ scikit-learn's Nyström, fit-time ratios)"),
    ("approximation_nystroem.md", "the Nyström rows of the same at M = 1,024, 2,048 (previous release)"),
    ("default_bandwidth.md", "bandwidth='auto' (median heuristic) against other rules and a tuned bandwidth"),
    ("nystroem_normalization.md", "Nyström normalization (pivoted Cholesky, eigh, scikit-learn's SVD) on the same centers: distance to exact KRR and time"),
    ("nystroem_timing.md", "Nyström fit time: levrf NystromRidge (direct and CG) against scikit-learn Nystroem+Ridge, M ≥ 2,048"),
    ("leverage_cost.md", "fit time of sampling='leverage' (defaults) against sampling='gaussian', n = 10^4, 10^5"),
    ("leverage_cost_custom.md", "the same at n = 10^6"),
    ("scale.md", "beyond D = 8,192: direct vs CG solvers vs Falkon, n up to 10^7, D = M up to 32,768"),
    ("scale_quick.md", "direct vs CG vs Falkon, quick smoke run (n = 20,000, D ≤ 2,048, measured under load)"),
    ("openblas_spin.md", "SciPy's OpenBLAS idle spin against torch's threads (why import levrf sets OPENBLAS_THREAD_TIMEOUT)"),
    ("kernel_blocks.md", "kernel evaluation: levrf Kernel.compute (row blocks) against scikit-learn's kernel functions"),
]

HEADER = """# Benchmarks

Speed and accuracy claims of levrf, each measured against its peer in the same script on the same
data. Machine: the project's 2-core x86_64 CPU machine, torch 2.13.0+cpu, float64, except
`krr_gpu.md`, measured on a lent machine with one NVIDIA H100 and 16 CPU cores (its section says
so) at an earlier release's code (commit db37852) and not rerun since: no GPU has been lent to the
project since then. Some runs shared the two cores with other jobs, so absolute times are pessimistic; ratios
were taken within one script. The machine is not always the same one: `scale.md` measured a
`syrk` rate of 90.9 GFLOP/s at one release, 32.7 at the previous one and 128 at this one, so
compare times only within a section. At this release these were measured, each on the otherwise
idle machine: `approximation.md`, `approximation_8192.md` and `approximation_ratios.md` (one seed,
exact KRR on 10,000 rows), `kernel_blocks.md` and the D = 16,384 and D = 512 rows of
`scale.md`; the rest of
`scale.md`, `nystroem_timing.md`, `leverage_cost.md`, `leverage_cost_custom.md`,
`approximation_nystroem.md` and `openblas_spin.md` at the previous release. Each section starts with the command that regenerates it;
this file is assembled by `python benchmarks/collect.py`.

| section | what |
|---|---|
"""


def main() -> None:
    present = [(name, what) for name, what in SECTIONS if (RESULTS / name).is_file()]
    index = "".join(f"| [{name}](benchmarks/results/{name}) | {what} |\n" for name, what in present)
    body = "\n\n".join((RESULTS / name).read_text().strip() for name, _ in present)
    (ROOT / "BENCHMARKS.md").write_text(HEADER + index + "\n" + body + "\n")
    print(f"wrote BENCHMARKS.md from {len(present)} sections")


if __name__ == "__main__":
    main()
