"""levrf.scipy_blas: OpenBLAS's idle spin is cut at import, and small calls run single-threaded."""

import math
import os
import subprocess
import sys

import pytest
import torch

from levrf.scipy_blas import SINGLE_THREAD_FLOPS, THREAD_TIMEOUT, blas_threads, threads_for

PROBE = r"""
import ctypes, os, sys
import levrf, scipy.linalg
from threadpoolctl import threadpool_info
libs = [i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas"]
values = []
for path in libs:
    lib = ctypes.CDLL(path)
    if hasattr(lib, "openblas_thread_timeout"):
        values.append(lib.openblas_thread_timeout())
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), *values)
"""


def probe(env_value):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if env_value is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_sets_the_timeout_before_scipy_loads_openblas():
    words = probe(None)
    assert words[0] == str(THREAD_TIMEOUT)
    # every OpenBLAS that SciPy/NumPy loaded read it (where the library reports it)
    assert all(int(v) == THREAD_TIMEOUT for v in words[1:])


def test_a_timeout_the_user_set_is_kept():
    words = probe("20")
    assert words[0] == "20"
    assert all(int(v) == 20 for v in words[1:])


@pytest.mark.parametrize("flops, expected", [(0.0, 1), (SINGLE_THREAD_FLOPS / 2, 1), (SINGLE_THREAD_FLOPS, None), (1e15, None)])
def test_threads_for_small_and_large_calls(flops, expected):
    assert threads_for(flops) == (torch.get_num_threads() if expected is None else expected)


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_threads_for_refuses_negative_or_nan(bad):
    with pytest.raises(ValueError, match="flops"):
        threads_for(bad)


def test_blas_threads_restores_the_thread_count():
    from threadpoolctl import threadpool_info

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    with blas_threads(1.0):
        assert all(n == 1 for n in counts())
    assert counts() == before
