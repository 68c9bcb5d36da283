"""SciPy's BLAS and LAPACK inside levrf's torch computations: their threads.

levrf calls SciPy's BLAS/LAPACK (OpenBLAS in the SciPy wheels) for the routines torch does not
expose: ``syrk`` (the Gram update), ``trmm`` (the Nyström map), ``pstrf`` (the pivoted Cholesky
of the centers) and ``trtri`` (triangular inverses). torch's own x86 wheels compute with MKL and
OpenMP threads, so two thread pools share the cores, and two things follow:

* **Idle spin.** After a multithreaded call OpenBLAS keeps its worker threads spinning for
  ``2**THREAD_TIMEOUT`` cycles (28 by default, about 0.1 s) before they sleep; torch work that
  follows meanwhile competes with them for the cores. ``benchmarks/openblas_spin.py`` measures a
  Gaussian kernel block computed alone and right after a threaded ``trmm`` / ``syrk``, with the
  default timeout and with ``OPENBLAS_THREAD_TIMEOUT=4`` (results in
  ``benchmarks/results/openblas_spin.md``). :func:`set_default_thread_timeout` (run by
  ``import levrf``) therefore sets ``OPENBLAS_THREAD_TIMEOUT`` to :data:`THREAD_TIMEOUT` when the
  variable is unset. OpenBLAS reads it once, when the library is loaded, so it takes effect only
  if levrf is imported before SciPy's BLAS (``scipy.linalg``, and scikit-learn, which imports it);
  otherwise set the variable in the environment yourself. A value you set is never changed.
* **Thread count.** :func:`blas_threads` runs a call with ``torch.get_num_threads()`` threads
  (one setting governs all of levrf's threads) or, below :data:`SINGLE_THREAD_FLOPS`, with one:
  threads gain nothing on a call of a few milliseconds, and a single thread leaves none spinning.
"""

from __future__ import annotations

import functools
import os
from contextlib import AbstractContextManager

#: the exponent levrf sets for OpenBLAS's idle spin (2**4 cycles: workers sleep at once; the
#: wake-up costs microseconds, nothing against the milliseconds of the calls levrf makes)
THREAD_TIMEOUT = 4
#: calls estimated below this many flops run single-threaded (about 3 ms at the 2-core
#: machine's ~35 GFLOP/s float64 rate)
SINGLE_THREAD_FLOPS = 1e8


def set_default_thread_timeout() -> bool:
    """Set ``OPENBLAS_THREAD_TIMEOUT`` to :data:`THREAD_TIMEOUT` unless it is set; whether it was.

    Examples
    --------
    >>> import os
    >>> "OPENBLAS_THREAD_TIMEOUT" in os.environ  # import levrf set it (or you did)
    True
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(THREAD_TIMEOUT)
    return True


@functools.lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def threads_for(flops: float) -> int:
    """Threads for a SciPy BLAS/LAPACK call of about ``flops`` flops (module docstring).

    Examples
    --------
    >>> threads_for(1e6)
    1
    >>> import torch
    >>> threads_for(1e12) == torch.get_num_threads()
    True
    """
    import torch  # not at the top: import levrf runs this module before torch and NumPy load

    if not flops >= 0:
        raise ValueError(f"flops must be >= 0, got {flops!r}")
    return 1 if flops < SINGLE_THREAD_FLOPS else torch.get_num_threads()


def blas_threads(flops: float) -> AbstractContextManager:
    """Context in which SciPy's BLAS runs a call of about ``flops`` flops with
    :func:`threads_for` threads; the previous thread counts are restored on exit."""
    return _controller().limit(limits=threads_for(flops))
