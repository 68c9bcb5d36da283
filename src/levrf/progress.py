"""Progress bars for long loops (pool scoring, training, experiment grids).

Library calls are silent by default; the ``levrf`` command turns bars on unless ``--quiet``.
Use ``levrf.progress.enable(True)`` to see them from Python too.
"""

from __future__ import annotations

from collections.abc import Iterable

from tqdm.auto import tqdm

_STATE = {"enabled": False}


def enable(on: bool = True) -> None:
    """Show (or hide) levrf's progress bars for library loops such as leverage scoring."""
    _STATE["enabled"] = bool(on)


def enabled() -> bool:
    return _STATE["enabled"]


def progress(iterable: Iterable, desc: str, total: int | None = None, min_items: int = 2):
    """``tqdm`` over ``iterable`` when bars are enabled and there is more than one item."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    show = enabled() and (total is None or total >= min_items)
    return tqdm(iterable, desc=desc, total=total, disable=not show, leave=False)
