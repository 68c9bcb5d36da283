"""Objects sent to every worker once: the fitted feature map, coefficients, eigenvectors.

A :class:`Shipped` value enters a task graph as *one* key (``dask.delayed`` of the object) that
every row-block task depends on. A distributed scheduler therefore sends it to each worker
once (workers fetch it from each other and keep it while tasks need it), not once per task,
and recomputes it like any other key if the worker holding it dies.

Each unpickling is counted per process (:func:`unpickle_count`) so that tests can check that
a worker received the object once, whatever the number of its tasks.
"""

from __future__ import annotations

import itertools
import threading
import uuid

_COUNT_LOCK = threading.Lock()
_UNPICKLED: dict[str, int] = {}
_SEQUENCE = itertools.count()


class Shipped:
    """A small value shipped to the workers; ``.value`` is the object itself.

    Parameters
    ----------
    value : object
        Anything picklable (torch tensors, kernels, fitted feature maps).
    label : str
        Readable part of the graph key (e.g. ``"levrf-features"``).
    """

    def __init__(self, value, label: str = "levrf-state") -> None:
        self.value = value
        self.key = f"{label}-{uuid.uuid4().hex[:12]}-{next(_SEQUENCE)}"

    def __getstate__(self) -> dict:
        return {"value": self.value, "key": self.key}

    def __setstate__(self, state: dict) -> None:
        self.value = state["value"]
        self.key = state["key"]
        with _COUNT_LOCK:
            _UNPICKLED[self.key] = _UNPICKLED.get(self.key, 0) + 1

    def delayed(self):
        """This object as one ``dask.delayed`` key, to be passed to block tasks."""
        import dask

        return dask.delayed(self, name=self.key, pure=True)


def unpickle_count(key: str | None = None) -> int | dict[str, int]:
    """How many times this process unpickled the shipped object ``key`` (all keys if ``None``)."""
    with _COUNT_LOCK:
        return dict(_UNPICKLED) if key is None else _UNPICKLED.get(key, 0)
