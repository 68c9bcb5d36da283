"""Distributed reductions under worker faults: bounded retries, a deadline, a clear error.

Each test starts its own ``LocalCluster`` (two single-threaded worker processes) whose scheduler
has ``allowed-failures = 0``, so that every worker death is reported to the client at once and
``FaultPolicy.retries`` alone decides how many are tolerated. Workers are killed with SIGKILL by
their pid (checked to be a child of this process); the fixture closes the cluster and ends any
worker process left behind.
"""

import os
import re
import signal
import threading
import time

import numpy as np
import pytest

import levrf

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from levrf.distributed import (  # noqa: E402
    DistributedFitError,
    FaultPolicy,
    as_row_blocks,
    fault_policy,
    reduce_row_blocks,
)
from levrf.distributed.reduce import current_fault_policy  # noqa: E402

ROWS_PER_BLOCK = 50
N_ROWS = 1000  # 20 row blocks


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(7).standard_normal((N_ROWS, 3))


def sleepy_sums(delay: float):
    """A block function (pickled by value) that sleeps ``delay`` s, then returns column sums."""

    def block_sums(x, y, start):
        time.sleep(delay)
        return {"sum": x.sum(axis=0), "sumsq": (x * x).sum(axis=0)}

    return block_sums


def kill_block_once(index: int, marker: str):
    """A ``map_blocks`` function whose task for row block ``index`` kills its worker the first time."""

    def kill(block, block_info=None):
        if block_info[0]["chunk-location"][0] == index:
            try:
                open(marker, "x").close()
            except FileExistsError:
                return block
            os._exit(1)
        return block

    return kill


def own_children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def cluster():
    before = own_children()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=50
        )
    client = distributed.Client(local)
    try:
        yield local, client, before
    finally:
        for close in (lambda: client.close(timeout=10), lambda: local.close(timeout=10)):
            try:
                close()
            except Exception:  # a nanny killed while restarting may not shut down cleanly
                pass
        leftovers = [psutil.Process(pid) for pid in own_children() - before if psutil.pid_exists(pid)]
        for proc in leftovers:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        psutil.wait_procs(leftovers, timeout=10)
        assert not [pid for pid in own_children() - before if psutil.pid_exists(pid)]


def worker_processes(exclude: set[int]) -> list[int]:
    """Pids of this process's worker children (spawned by the nannies) not in ``exclude``."""
    pids = []
    for proc in psutil.Process().children(recursive=False):
        try:
            if proc.pid not in exclude and "spawn_main" in " ".join(proc.cmdline()):
                pids.append(proc.pid)
        except psutil.NoSuchProcess:
            continue
    return sorted(pids)


class WorkerKiller:
    """A thread that SIGKILLs one worker process of this test every ``period`` seconds."""

    def __init__(self, period: float, exclude: set[int]) -> None:
        self.period, self.exclude, self.kills = period, exclude, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.period):
            pids = worker_processes(self.exclude)
            if not pids:
                continue
            try:
                os.kill(pids[self.kills % len(pids)], signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def local_reference(block_fn, blocks):
    with dask.config.set(scheduler="threads"):
        return reduce_row_blocks(block_fn, blocks)


def check_sums(result, X) -> None:
    """The sums against a direct NumPy computation, to a tolerance of n·eps·scale."""
    tol = 8 * len(X) * np.finfo(X.dtype).eps
    np.testing.assert_allclose(result["sum"], X.sum(axis=0), rtol=0, atol=tol * np.abs(X).max())
    np.testing.assert_allclose(result["sumsq"], (X * X).sum(axis=0), rtol=0, atol=tol * (X * X).max())
    assert result["n_rows"] == len(X)


def assert_exactly_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def assert_released(client, timeout: float = 20.0) -> None:
    """Wait until no worker holds a result any more (releases reach the scheduler asynchronously)."""
    deadline = time.monotonic() + timeout
    while any(client.who_has().values()):
        assert time.monotonic() < deadline, f"still held: {client.has_what()}"
        time.sleep(0.1)


def assert_names_blocks(err: DistributedFitError, blocks) -> None:
    """The error lists real row blocks with their true row ranges, in the attributes and the message."""
    assert err.lost_blocks and set(err.lost_blocks) <= set(range(blocks.n_blocks))
    for b, (start, stop) in zip(err.lost_blocks, err.row_ranges, strict=True):
        assert (start, stop) == (blocks.starts[b], blocks.starts[b] + blocks.X.chunks[0][b])
    first, (start, stop) = err.lost_blocks[0], err.row_ranges[0]
    assert f"{first} (rows {start}-{stop - 1})" in str(err)
    assert "fault_policy(retries=..., timeout=...)" in str(err)


# ----------------------------------------------------------------------------- the policy object
def test_fault_policy_validates_and_nests():
    assert current_fault_policy() == FaultPolicy(retries=3, timeout=None)
    with fault_policy(retries=1, timeout=5) as outer:
        assert outer == FaultPolicy(retries=1, timeout=5.0) == current_fault_policy()
        with fault_policy(timeout=None):
            assert current_fault_policy() == FaultPolicy(retries=1, timeout=None)
        assert current_fault_policy() == outer
    assert current_fault_policy() == FaultPolicy()
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        FaultPolicy(retries=-1)
    with pytest.raises(TypeError, match="retries must be an integer"):
        FaultPolicy(retries=True)
    with pytest.raises(ValueError, match="timeout must be finite and > 0"):
        FaultPolicy(timeout=0)
    with pytest.raises(TypeError, match="timeout must be a real number"):
        FaultPolicy(timeout="10")
    with pytest.raises(TypeError, match="only retries and timeout, got deadline"):
        with fault_policy(deadline=3):
            pass
    with pytest.raises(TypeError, match="faults must be a FaultPolicy"):
        reduce_row_blocks(sleepy_sums(0), as_row_blocks(da.ones((4, 2), chunks=2)), faults={"retries": 1})


# ----------------------------------------------------------------------------- a real cluster
def test_no_faults_give_exactly_the_local_result(cluster, X):
    _, client, _ = cluster
    blocks = as_row_blocks(da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)))
    reference = local_reference(sleepy_sums(0.0), blocks)
    check_sums(reference, X)
    result = reduce_row_blocks(sleepy_sums(0.01), blocks, faults=FaultPolicy(retries=0, timeout=120))
    assert_exactly_equal(result, reference)
    assert_released(client)  # nothing is left in the workers' memory


def failing_block(attempts_dir: str):
    """A block function that records each attempt in ``attempts_dir`` and raises ``TimeoutError``."""

    def fail(x, y, start):
        if start == 100:
            open(os.path.join(attempts_dir, f"{os.getpid()}-{time.monotonic_ns()}"), "x").close()
            raise TimeoutError("the block's own timeout")
        return {"sum": x.sum(axis=0)}

    return fail


def test_a_failing_task_is_rerun_retries_times_then_raises_its_error(cluster, X, tmp_path):
    _, client, _ = cluster
    blocks = as_row_blocks(da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)))
    with pytest.raises(TimeoutError, match="the block's own timeout"):  # not mistaken for the deadline
        reduce_row_blocks(failing_block(str(tmp_path)), blocks, faults=FaultPolicy(retries=2, timeout=120))
    assert len(os.listdir(tmp_path)) == 3  # the first run and 2 re-runs
    assert_released(client)


@pytest.mark.slow
def test_a_killed_worker_is_retried_bit_identically_or_reported(cluster, X, tmp_path):
    _, client, _ = cluster
    reference = local_reference(sleepy_sums(0.0), as_row_blocks(da.from_array(X, chunks=(ROWS_PER_BLOCK, 3))))
    pids = set(client.run(os.getpid).values())
    marker = str(tmp_path / "killed")
    killing = da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)).map_blocks(
        kill_block_once(9, marker), dtype=X.dtype, meta=np.empty((0, 0))
    )
    blocks = as_row_blocks(killing)
    result = reduce_row_blocks(sleepy_sums(0.01), blocks, faults=FaultPolicy(retries=1, timeout=120))
    assert os.path.exists(marker) and pids - set(client.run(os.getpid).values())  # a worker died
    assert_exactly_equal(result, reference)

    # the same death with no retries allowed: the error names block 13 (rows 650-699)
    os.remove(marker)
    killing = da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)).map_blocks(
        kill_block_once(13, marker), dtype=X.dtype, meta=np.empty((0, 0))
    )
    blocks = as_row_blocks(killing)
    with pytest.raises(DistributedFitError, match="died 1 times, more than retries=0") as info:
        reduce_row_blocks(sleepy_sums(0.01), blocks, faults=FaultPolicy(retries=0, timeout=120))
    lost = dict(zip(info.value.lost_blocks, info.value.row_ranges, strict=True))
    assert lost.get(13) == (650, 700)
    assert_names_blocks(info.value, blocks)
    assert_released(client)  # the rest was cancelled


def test_the_policy_reaches_estimator_fits(cluster, X, tmp_path):
    y = np.sin(X[:, 0])
    marker = str(tmp_path / "killed")
    Xd = da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)).map_blocks(
        kill_block_once(4, marker), dtype=X.dtype, meta=np.empty((0, 0))
    )
    model = levrf.RandomFeatureRidge(levrf.GaussianKernel(2.0), n_features=16, alpha=0.1, random_state=0)
    with fault_policy(retries=0), pytest.raises(DistributedFitError, match="retries=0") as info:
        model.fit(Xd, y)
    lost = dict(zip(info.value.lost_blocks, info.value.row_ranges, strict=True))
    assert lost.get(4) == (200, 250)


@pytest.mark.slow
def test_repeated_kills_raise_within_the_timeout(cluster, X):
    _, client, before = cluster
    blocks = as_row_blocks(da.from_array(X, chunks=(ROWS_PER_BLOCK, 3)))
    client.run(__import__, "levrf.distributed.reduce")  # the workers' imports do not count
    timeout, slack = 5.0, 8.0  # without kills: ~1.5 s of work; slack: asking the scheduler (<= 5 s)
    start = time.monotonic()
    with WorkerKiller(period=0.7, exclude=before) as killer, pytest.raises(DistributedFitError) as info:
        reduce_row_blocks(sleepy_sums(0.15), blocks, faults=FaultPolicy(retries=1, timeout=timeout))
    elapsed = time.monotonic() - start
    assert killer.kills >= 1
    assert elapsed < timeout + slack
    message = str(info.value)
    assert re.search(r"more than retries=1 allows|did not finish within timeout=5 s", message)
    assert_names_blocks(info.value, blocks)
