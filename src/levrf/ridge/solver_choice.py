"""The ``solver="auto"`` rule of the random-feature and Nyström ridge: Cholesky or CG, by cost.

:func:`choose_solver` is the one place that decides; the estimators only call it. Costs are
counted in *GEMM-flop equivalents* (the time of one flop of a large matrix product), so that
work that runs far below the GEMM rate (feature evaluation, memory-bound products with few
targets) is weighed by its measured slowness:

direct (``solver="cholesky"``)
    ``n·D²`` (the ``syrk`` of ΨᵀΨ) ``+ D³/3`` (Cholesky) ``+ n·w·φ`` (one pass of features,
    ``w`` base columns, φ the cost of one base element: ``FEATURE_ELEMENT_COST`` for random
    features, ``KERNEL_ELEMENT_COST`` for Nyström's kernel values); Nyström adds ``n·D²`` (the triangular
    product ``K(X, C_r)·L_rr⁻ᵀ`` that makes ψ, :mod:`levrf.nystroem`).
CG (``solver="cg"``)
    the preconditioner ``r·D² + D³/3 + r·w·φ`` (Nyström with uniform centers: r = M), the first
    pass ``n·w·φ``, and ``ITERATIONS`` iterations of ``MATVEC_WEIGHT·4·n·w·k`` (the products
    ``Bᵀ(B V)``) plus ``n·w·φ`` each unless the base features are cached.

CG is chosen only when its cost is below ``CG_ADVANTAGE`` times the direct one, and from
``CG_MIN_ROWS`` rows on for random features (``NYSTROM_CG_MIN_ROWS`` for Nyström), so that the
direct solver (exact, and at most about a minute below ``CG_MIN_ROWS`` rows for D ≤ 8,192)
keeps every setting where it is not clearly slower: every random-feature run of
``benchmarks/krr.py`` and ``benchmarks/approximation.py`` (n ≤ 53,000, D ≤ 8,192), and every
Nyström one except where all or nearly all M centers are kept and ``K(X, C)`` fits the CG cache
(flights at M = 2,048 and 4,096 in ``benchmarks/results/nystroem_timing.md``, where CG took 0.67×
and 0.40× the direct time). The
constants were measured on the 2-core development machine *under load* (other jobs running),
single-threaded, with ``/tmp``-style micro-timings of ``torch`` products and of the Gaussian
feature map and kernel at d = 10 (GEMM 42 GFLOP/s; ``Bᵀ(Bv)`` on a cached 20,000 × 1,024
matrix 2.7 GFLOP/s; one random-feature or Gaussian-kernel element 11–45 ns, the spread being
the load); the lead re-measures them with
``benchmarks/scale.py`` (measured crossover: see BENCHMARKS.md, scale).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_positive_int

#: iterations of preconditioned CG assumed by the rule (FALKON reaches its accuracy in 10–20)
ITERATIONS = 30
#: GEMM-flop equivalents of one flop of the memory-bound products ``Bᵀ(B v)`` (≈ 15 when B was
#: read twice from memory; ≈ 7.5 with the cache-sized blocks of ``levrf.ridge.cg``: 36 ms for
#: 20,000 × 2,048 against a 34 GFLOP/s GEMM, development run on the 2-core machine)
MATVEC_WEIGHT = 7.5
#: GEMM-flop equivalents of one random-feature element at d = 10 (measured 11–45 ns against a
#: 42 GFLOP/s GEMM under load, the best repeat ~12 ns; ``scale.py`` at its latest run: 6.1 ns
#: against a 128 GFLOP/s ``syrk``, i.e. ~780)
FEATURE_ELEMENT_COST = 500.0
#: the same for one Nyström base element, a kernel value K(x, c) at d = 10 (the centers prepared
#: once per pass, ``Kernel.prepare``): the CG fit at n = 10⁶, M = 16,384 of
#: ``benchmarks/results/scale.md`` took 1,045 s for 28 passes, ~2.1 ns per row and center per
#: pass with the products ``Bᵀ(B V)``, against a 128 GFLOP/s ``syrk``: ~270, of which the
#: products are ``MATVEC_WEIGHT·4 = 30``
KERNEL_ELEMENT_COST = 250.0
#: CG must be estimated at most this fraction of the direct cost to be chosen
CG_ADVANTAGE = 0.5
#: below this many rows "auto" always solves directly (the cost model's margin is not verified
#: there: cached CG on 10,000 rows at M = 4,096 is estimated at 0.44× the direct fit)
CG_MIN_ROWS = 100_000
#: the same for Nyström maps: their direct fit pays the n·D² map product on top of the syrk,
#: and CG's preconditioner is on the M centers (no row subsample); measured at n = 20,000
#: (``benchmarks/results/nystroem_timing.md``)
NYSTROM_CG_MIN_ROWS = 10_000


@dataclass(frozen=True)
class SolverCosts:
    """The two cost estimates (GEMM-flop equivalents) and the choice."""

    direct: float
    cg: float
    solver: str


def solver_costs(
    n_rows: int,
    n_features: int,
    *,
    n_base: int | None = None,
    n_targets: int = 1,
    cached: bool = False,
    preconditioner_rows: int | None = None,
    nystrom: bool = False,
) -> SolverCosts:
    """Cost estimates of the direct and CG fits and the ``"auto"`` choice (module docstring).

    Parameters
    ----------
    n_rows : int
        n.
    n_features : int
        D, the columns of Ψ (r ≤ M for Nyström).
    n_base : int, optional
        w, the columns of the base matrix B (M for Nyström; default D).
    n_targets : int
        k.
    cached : bool
        Whether CG would keep B in memory (``cg_cache_bytes``).
    preconditioner_rows : int, optional
        r of the preconditioner (default ``min(n, 2D)``; Nyström with uniform centers: M).
    nystrom : bool
        Whether ψ = B·N must be formed by the direct fit (the ``n·D²`` product).
    """
    n = check_positive_int(n_rows, "n_rows")
    D = check_positive_int(n_features, "n_features")
    w = D if n_base is None else check_positive_int(n_base, "n_base")
    k = check_positive_int(n_targets, "n_targets")
    r = min(n, 2 * D) if preconditioner_rows is None else check_positive_int(preconditioner_rows, "preconditioner_rows")
    phi = KERNEL_ELEMENT_COST if nystrom else FEATURE_ELEMENT_COST
    features = n * w * phi
    direct = n * D**2 + D**3 / 3 + features + (n * D**2 if nystrom else 0.0)
    iteration = MATVEC_WEIGHT * 4.0 * n * w * k + (0.0 if cached else features)
    cg = r * D**2 + D**3 / 3 + r * w * phi + features + ITERATIONS * iteration
    use_cg = n >= (NYSTROM_CG_MIN_ROWS if nystrom else CG_MIN_ROWS) and cg <= CG_ADVANTAGE * direct
    return SolverCosts(float(direct), float(cg), "cg" if use_cg else "cholesky")


def choose_solver(n_rows: int, n_features: int, **kwargs) -> str:
    """``"cholesky"`` or ``"cg"``: :func:`solver_costs`'s choice (same arguments)."""
    return solver_costs(n_rows, n_features, **kwargs).solver
