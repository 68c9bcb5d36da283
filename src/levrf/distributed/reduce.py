"""Map-reduce over the row blocks of a Dask array.

Every row block becomes one task that turns its rows into partial sums (a dict of NumPy arrays);
the partial sums are added in a tree (``split_every`` at a time), so the client receives only
the final sums, never the data. Each partial sum carries the indices of the row blocks it
covers and its row count: the final result is checked to cover every block exactly once and
``n`` rows, so a lost or duplicated partial sum raises instead of giving a silently wrong fit.

With a ``distributed.Client`` active, the reduction runs under a :class:`FaultPolicy`: failed
tasks are re-run a bounded number of times and the whole reduction has an optional deadline;
past either, what is left is cancelled and :class:`DistributedFitError` names the row blocks
that were not summed.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace

import numpy as np

from .._validation import check_positive
from ..rows import is_dask_collection, require_dask
from .shipping import Shipped

#: default fan-in of the reduction tree
SPLIT_EVERY = 8
#: default number of re-runs of a failed task: Dask's own default tolerance of worker deaths
#: (``distributed.scheduler.allowed-failures`` = 3), applied to task exceptions as well
DEFAULT_RETRIES = 3
#: default deadline of one distributed reduction in seconds; ``None``: no deadline, because a
#: fit's duration grows with n and D without bound (664 s for 10^7 rows in docs/distributed.md)
#: and any finite default would abort legitimate fits. Set one when workers may stay down.
DEFAULT_TIMEOUT_S: float | None = None
#: how long the failure report may wait for the scheduler's list of finished partial sums
_DIAGNOSIS_TIMEOUT_S = 5.0
_ROWS, _BLOCKS = "__rows__", "__blocks__"


class IncompleteReductionError(RuntimeError):
    """A distributed reduction did not cover every row exactly once."""


class DistributedFitError(IncompleteReductionError):
    """A distributed reduction gave up: tasks failed more than ``retries`` times, or the timeout passed.

    Attributes
    ----------
    lost_blocks : tuple of int
        Indices of the row blocks whose partial sums were not (or no longer) computed when the
        reduction gave up; the failed task's blocks first.
    row_ranges : tuple of (int, int)
        ``(start, stop)`` of each lost block's rows (``stop`` excluded).
    """

    def __init__(self, message: str, lost_blocks=(), row_ranges=()) -> None:
        super().__init__(message)
        self.lost_blocks = tuple(lost_blocks)
        self.row_ranges = tuple(row_ranges)


@dataclass(frozen=True)
class FaultPolicy:
    """How a distributed reduction handles failed tasks and how long it may take.

    Used only when a ``distributed.Client`` runs the reduction; the local schedulers neither
    retry nor time out.

    Parameters
    ----------
    retries : int, default DEFAULT_RETRIES
        How many times one task may fail and be run again: a task that raised an exception is
        re-run up to ``retries`` times (``Client.compute(retries=...)``), then its exception is
        raised. A task whose worker died while running it is re-run by the scheduler up to its
        ``distributed.scheduler.allowed-failures`` times (``a``, Dask's default 3); beyond that
        the whole reduction is submitted again (its partial sums are recomputed) as long as the
        task's deaths, ``a + 1`` per give-up, do not exceed ``retries``; then
        :class:`DistributedFitError` is raised. With the defaults (``a = retries = 3``) a task
        may die 3 times and the 4th death ends the fit.
    timeout : float or None, default DEFAULT_TIMEOUT_S
        Seconds the whole reduction may take from its submission; then the remaining tasks
        are cancelled and :class:`DistributedFitError` is raised. ``None``: no deadline.
    """

    retries: int = field(default_factory=lambda: DEFAULT_RETRIES)
    timeout: float | None = field(default_factory=lambda: DEFAULT_TIMEOUT_S)

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, numbers.Integral):
            raise TypeError(f"retries must be an integer >= 0, got {type(self.retries).__name__}")
        if self.retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {self.retries}")
        object.__setattr__(self, "retries", int(self.retries))
        if self.timeout is not None:
            object.__setattr__(self, "timeout", check_positive(self.timeout, "timeout"))


_CURRENT_POLICY: contextvars.ContextVar[FaultPolicy | None] = contextvars.ContextVar(
    "levrf_fault_policy", default=None
)


def current_fault_policy() -> FaultPolicy:
    """The policy of reductions that are not given one: the innermost :func:`fault_policy`, else the defaults."""
    policy = _CURRENT_POLICY.get()
    return FaultPolicy() if policy is None else policy


@contextlib.contextmanager
def fault_policy(**changes) -> Iterator[FaultPolicy]:
    """Set ``retries`` and/or ``timeout`` for the distributed reductions run inside the block.

    Applies to every fit, ``normal_equations`` and CV pass that does not pass its own policy,
    e.g. ``with fault_policy(retries=2, timeout=600): model.fit(X_dask, y)``. Fields not given
    keep their current value; ``timeout=None`` removes the deadline.

    Parameters
    ----------
    **changes
        ``retries`` (int >= 0) and ``timeout`` (seconds > 0, or ``None``); see :class:`FaultPolicy`.

    Yields
    ------
    FaultPolicy
        The policy in force inside the block.
    """
    unknown = sorted(set(changes) - {"retries", "timeout"})
    if unknown:
        raise TypeError(f"fault_policy accepts only retries and timeout, got {', '.join(unknown)}")
    policy = replace(current_fault_policy(), **changes)
    token = _CURRENT_POLICY.set(policy)
    try:
        yield policy
    finally:
        _CURRENT_POLICY.reset(token)


@dataclass
class RowBlocks:
    """A Dask array ``X`` (n, d) with one column chunk, and targets ``Y`` (n, k) aligned to it.

    Attributes
    ----------
    X : dask.array.Array (n, d)
    Y : dask.array.Array (n, k) or None
    starts : tuple of int
        First row of each row block.
    single_target : bool
        Whether the targets were given as a 1-D array.
    feature_names : numpy.ndarray of str or None
        Column names when ``X`` was a Dask DataFrame with string column names.
    """

    X: object
    Y: object | None
    starts: tuple[int, ...]
    single_target: bool = False
    feature_names: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_blocks(self) -> int:
        return len(self.starts)


def _dataframe_to_array(X, name: str):
    """A Dask DataFrame/Series as a Dask array with known chunk sizes (one pass to count rows)."""
    names = None
    if hasattr(X, "columns"):
        cols = list(X.columns)
        if cols and all(isinstance(c, str) for c in cols):
            names = np.asarray(cols, dtype=object)
    if hasattr(X, "to_dask_array"):
        return X.to_dask_array(lengths=True), names
    raise TypeError(f"{name} must be a Dask array or DataFrame, got {type(X).__name__}")


def _check_array(A, name: str, ndims: tuple[int, ...]):
    _, da = require_dask()
    if not isinstance(A, da.Array):
        raise TypeError(f"{name} must be a Dask array or DataFrame, got {type(A).__name__}")
    if A.ndim not in ndims:
        want = " or ".join(f"{k}-D" for k in ndims)
        hint = " (reshape a single feature with X.reshape(-1, 1))" if name == "X" and A.ndim == 1 else ""
        raise ValueError(f"{name} must be {want}, got shape {A.shape}{hint}")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if any(np.isnan(c) for c in A.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() (or build it with "
            "to_dask_array(lengths=True)) so that every row can be counted"
        )
    return A


def as_row_blocks(X, y=None, *, dtype=np.float64) -> RowBlocks:
    """Validate a Dask ``X`` (and targets ``y``) and align them into row blocks.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n, d)
    y : None, array-like or Dask array/Series of shape (n,) or (n, k)
        In-memory targets are split into ``X``'s row blocks.
    dtype : numpy dtype
        Floating type the blocks are cast to.

    Returns
    -------
    RowBlocks
    """
    _, da = require_dask()
    names = None
    if not isinstance(X, da.Array):
        if not is_dask_collection(X):
            raise TypeError(f"X must be a Dask array or DataFrame, got {type(X).__name__}")
        X, names = _dataframe_to_array(X, "X")
    X = _check_array(X, "X", (2,))
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    X = X.astype(dtype).rechunk({1: -1})
    row_chunks = X.chunks[0]
    starts = tuple(int(s) for s in np.concatenate([[0], np.cumsum(row_chunks)[:-1]]))
    if y is None:
        return RowBlocks(X, None, starts, feature_names=names)
    if is_dask_collection(y) and not isinstance(y, da.Array):
        y, _ = _dataframe_to_array(y, "y")
    if isinstance(y, da.Array):
        Y = _check_array(y, "y", (1, 2))
    else:
        A = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"y must hold real numbers, got dtype {A.dtype}")
        if A.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {A.shape}")
        if A.shape[0] != X.shape[0]:
            raise ValueError(f"y has {A.shape[0]} rows but X has {X.shape[0]}; they must match")
        Y = da.from_array(A, chunks=(row_chunks,) + A.shape[1:])
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {Y.shape[0]} rows but X has {X.shape[0]}; they must match")
    single = Y.ndim == 1
    Y = Y.astype(np.float64)
    Y = (Y[:, None] if single else Y).rechunk({0: row_chunks, 1: -1})
    if Y.shape[1] == 0:
        raise ValueError("y must have at least one column")
    return RowBlocks(X, Y, starts, single_target=single, feature_names=names)


def _run_block(block_fn, x, y, start, index, *shipped):
    """One task: the partial sums of one row block, tagged with its block index and row count."""
    values = [s.value if isinstance(s, Shipped) else s for s in shipped]
    out = dict(block_fn(x, y, start, *values))
    out[_ROWS] = int(x.shape[0])
    out[_BLOCKS] = (int(index),)
    return out


def _add_parts(*parts: dict) -> dict:
    """Sum partial results key by key (a key missing from a part counts as zero)."""
    total: dict = {}
    for part in parts:
        for key, value in part.items():
            if key == _BLOCKS:
                continue
            total[key] = value if key not in total else total[key] + value
    blocks = tuple(sorted(b for part in parts for b in part[_BLOCKS]))
    if len(set(blocks)) != len(blocks):
        raise IncompleteReductionError(f"a row block was reduced twice: blocks {blocks}")
    total[_BLOCKS] = blocks
    return total


def tree_sum(parts: list, split_every: int = SPLIT_EVERY):
    """Add ``dask.delayed`` partial results in a tree of fan-in ``split_every``."""
    return _reduction_tree(parts, split_every)[0]


def _reduction_tree(parts: list, split_every: int) -> tuple[object, dict]:
    """The root of the addition tree over ``parts`` and, for each node's key, the part indices below it."""
    dask, _ = require_dask()
    if isinstance(split_every, bool) or not isinstance(split_every, numbers.Integral):
        raise TypeError(f"split_every must be an integer >= 2, got {type(split_every).__name__}")
    if split_every < 2:
        raise ValueError(f"split_every must be >= 2, got {split_every}")
    add = dask.delayed(_add_parts, pure=True)  # keys derive from the parts' keys: deterministic
    covers = {part.key: (i,) for i, part in enumerate(parts)}
    while len(parts) > 1:
        groups = [parts[i : i + split_every] for i in range(0, len(parts), split_every)]
        parts = [add(*group) for group in groups]
        for node, group in zip(parts, groups, strict=True):
            covers[node.key] = tuple(b for child in group for b in covers[child.key])
    return parts[0], covers


def reduce_row_blocks(
    block_fn: Callable[..., dict],
    blocks: RowBlocks,
    *shipped: Shipped,
    split_every: int = SPLIT_EVERY,
    faults: FaultPolicy | None = None,
) -> dict:
    """Apply ``block_fn(x, y, start, *values)`` to every row block and sum the results.

    Parameters
    ----------
    block_fn : callable
        Module-level function (picklable by reference) of a NumPy block ``x`` (b, d), its
        targets ``y`` (b, k) or ``None``, the block's first row ``start`` and the values of the
        ``shipped`` objects; returns a dict of NumPy arrays (or numbers) to be summed.
    blocks : RowBlocks
    *shipped : Shipped
        Objects every task needs (feature map, coefficients): one graph key each, sent to each
        worker once.
    split_every : int
        Fan-in of the reduction tree.
    faults : FaultPolicy or None
        Retries and deadline when a ``distributed.Client`` runs the reduction; ``None``: the
        :func:`current_fault_policy` (the defaults, or the enclosing :func:`fault_policy`).

    Returns
    -------
    dict
        The sums over all row blocks, computed by the current Dask scheduler (a
        ``distributed.Client`` if one is active, else the local threaded scheduler), and
        ``"n_rows"``: the number of rows summed (checked to be n).

    Raises
    ------
    DistributedFitError
        With a client: if a task's workers died more often than the policy allows, or the
        timeout passed, or the computation was cancelled; the remaining tasks are cancelled.
    IncompleteReductionError
        If the sums do not cover every row block exactly once and ``n`` rows in total.
    """
    if faults is None:
        faults = current_fault_policy()
    elif not isinstance(faults, FaultPolicy):
        raise TypeError(f"faults must be a FaultPolicy or None, got {type(faults).__name__}")
    if not isinstance(blocks, RowBlocks):
        raise TypeError(f"blocks must be a RowBlocks (see as_row_blocks), got {type(blocks).__name__}")
    dask, _ = require_dask()
    x_blocks = blocks.X.to_delayed().ravel()
    y_blocks = [None] * len(x_blocks) if blocks.Y is None else blocks.Y.to_delayed().ravel()
    refs = [s.delayed() for s in shipped]
    run = dask.delayed(_run_block, pure=True)
    parts = [
        run(block_fn, xb, yb, start, i, *refs)
        for i, (xb, yb, start) in enumerate(zip(x_blocks, y_blocks, blocks.starts, strict=True))
    ]
    root, covers = _reduction_tree(parts, split_every)
    client = _active_client(root)
    if client is None:
        (total,) = dask.compute(root)
    else:
        total = _compute_on_client(client, root, covers, blocks, faults)
    check_complete(total, blocks)
    total.pop(_BLOCKS)
    total["n_rows"] = int(total.pop(_ROWS))
    return total


def check_complete(total: dict, blocks: RowBlocks) -> None:
    """Raise unless ``total`` covers every row block once and exactly ``n`` rows."""
    covered = total.get(_BLOCKS, ())
    if tuple(covered) != tuple(range(blocks.n_blocks)):
        missing = sorted(set(range(blocks.n_blocks)) - set(covered))
        raise IncompleteReductionError(
            f"the reduction covered {len(covered)} of {blocks.n_blocks} row blocks (missing {missing[:10]}); "
            "refusing to return a result computed from a partial sum"
        )
    if int(total.get(_ROWS, -1)) != blocks.n_rows:
        raise IncompleteReductionError(
            f"the reduction counted {total.get(_ROWS)} rows but X has {blocks.n_rows}; "
            "refusing to return a result computed from a partial sum"
        )


def _active_client(collection):
    """The ``distributed.Client`` that ``dask.compute(collection)`` would use, or ``None``."""
    if "distributed" not in sys.modules:  # no client can exist unless distributed was imported
        return None
    import dask.base
    from distributed import Client

    scheduler = dask.base.get_scheduler(collections=[collection])
    client = getattr(scheduler, "__self__", None)  # a client's scheduler is its bound ``get``
    return client if isinstance(client, Client) else None


def _compute_on_client(client, root, covers: dict, blocks: RowBlocks, policy: FaultPolicy) -> dict:
    """Run the reduction on ``client`` under ``policy``; cancel what is left unless it succeeds."""
    from distributed import KilledWorker

    deadline = None if policy.timeout is None else time.monotonic() + policy.timeout
    future = _submit(client, root, policy.retries)
    deaths: dict = {}  # task key -> how many times the workers running it died, over all submissions
    done = False
    try:
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                total = future.result(timeout=remaining)
                done = True
                return total
            except KilledWorker as exc:
                # the scheduler gives a task up after allowed_failures + 1 deaths of its workers
                key = exc.task
                deaths[key] = deaths.get(key, 0) + exc.allowed_failures + 1
                if deaths[key] > policy.retries:
                    cause = (
                        f"the workers running task {key!r} died {deaths[key]} times, more than "
                        f"retries={policy.retries} allows"
                    )
                    raise _fit_error(client, root, covers, blocks, cause, key) from exc
                # Future.retry() cannot restart a graph whose inner keys have no client future
                # (distributed looks each one up), so submit the reduction again: the same keys,
                # hence the same result, but its partial sums are computed again
                client.cancel([future])
                future.release()
                future = _submit(client, root, policy.retries)
            except TimeoutError as exc:
                if future.status == "error":  # a task's own TimeoutError (e.g. a socket's)
                    raise
                cause = f"it did not finish within timeout={policy.timeout:g} s"
                raise _fit_error(client, root, covers, blocks, cause) from exc
            except CancelledError as exc:
                cause = "its tasks were cancelled (by another client, or the scheduler was lost)"
                raise _fit_error(client, root, covers, blocks, cause) from exc
    finally:
        if not done:
            client.cancel([future])
        future.release()


def _unchanged(total: dict) -> dict:
    return total


def _submit(client, root, retries: int):
    """Compute ``root`` on ``client`` behind a task with a fresh key.

    A cancelled future's key stays in the client's table until its release, which runs
    later on the client's event loop; a resubmission under the same key would be handed
    that cancelled state. The fresh outer key avoids this; the inner keys (all the work)
    stay deterministic.
    """
    dask, _ = require_dask()
    return client.compute(dask.delayed(_unchanged, pure=False)(root), retries=retries)


def _fit_error(client, root, covers: dict, blocks: RowBlocks, cause: str, failed_key=None) -> DistributedFitError:
    """The error naming the row blocks whose partial sums were lost or not computed yet."""
    failed = _blocks_depending_on(root, failed_key, covers) if failed_key is not None else ()
    unsummed = _unsummed_blocks(client, covers, blocks.n_blocks)
    lost = list(failed) + [b for b in (unsummed or ()) if b not in set(failed)]
    sizes = blocks.X.chunks[0]
    ranges = [(blocks.starts[b], blocks.starts[b] + int(sizes[b])) for b in lost]
    shown = ", ".join(f"{b} (rows {a}-{z - 1})" for b, (a, z) in list(zip(lost, ranges, strict=True))[:10])
    more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
    if unsummed is None:
        status = "the scheduler could not be asked which row blocks were summed"
        lost_text = f"; the failed task needed row blocks {shown}{more}" if lost else ""
    else:
        status = f"{len(lost)} of {blocks.n_blocks} row blocks were not summed"
        lost_text = f": {shown}{more}" if lost else ""
    return DistributedFitError(
        f"the distributed reduction gave up because {cause}; {status}{lost_text}. The remaining "
        "tasks were cancelled and no result was returned. Check that the workers stay up (their logs, "
        "memory limits, nanny restarts), or allow more with levrf.distributed.fault_policy(retries=..., "
        "timeout=...).",
        lost,
        ranges,
    )


def _blocks_depending_on(root, key, covers: dict) -> tuple[int, ...]:
    """The row blocks whose partial sums need task ``key`` (a block, addition or input task)."""
    if key in covers:
        return tuple(covers[key])
    dependencies = root.__dask_graph__().get_all_dependencies()
    found: set[int] = set()
    for part_key, part_blocks in covers.items():
        if len(part_blocks) != 1:  # a block's own task, or an addition of that block alone
            continue
        stack, seen = [part_key], set()
        while stack:
            k = stack.pop()
            if k == key:
                found.add(part_blocks[0])
                break
            if k not in seen:
                seen.add(k)
                stack.extend(dependencies.get(k, ()))
    return tuple(sorted(found))


def _unsummed_blocks(client, covers: dict, n_blocks: int) -> list[int] | None:
    """Blocks whose partial sum, or a sum that includes it, is in no worker's memory; ``None`` if unknown."""
    keys = list(covers)

    async def held():
        return await client.scheduler.who_has(keys=keys)

    try:
        who_has = client.sync(held, callback_timeout=_DIAGNOSIS_TIMEOUT_S)
    except Exception:  # a diagnosis only: the reduction has failed already, report what is known
        return None
    summed = {b for key, workers in who_has.items() if workers for b in covers.get(key, ())}
    return [b for b in range(n_blocks) if b not in summed]
