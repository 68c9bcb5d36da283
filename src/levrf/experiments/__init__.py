"""Experiments: each is a library function returning a result that writes JSON and draws a PNG.

``EXPERIMENTS`` maps the names used by ``levrf experiment NAME`` to those functions.
"""

from .approx import ApproxResult, run_approx
from .base import ExperimentResult
from .deep import DeepResult, run_deep
from .equivalence import EquivalenceResult, run_equivalence
from .krr import KRRResult, run_krr
from .leverage_profile import LeverageProfileResult, run_leverage_profile

EXPERIMENTS = {"approx": run_approx, "krr": run_krr, "leverage_profile": run_leverage_profile}
EXPERIMENTS["equivalence"] = run_equivalence
EXPERIMENTS["deep"] = run_deep

__all__ = [
    "EXPERIMENTS",
    "ApproxResult",
    "DeepResult",
    "EquivalenceResult",
    "ExperimentResult",
    "KRRResult",
    "LeverageProfileResult",
    "run_approx",
    "run_deep",
    "run_equivalence",
    "run_krr",
    "run_leverage_profile",
]
