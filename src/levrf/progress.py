"""Progress bars for long loops (pool scoring, training, experiment grids): levrf's one bar mechanism.

Library calls are silent by default; the ``levrf`` command turns bars on unless ``--quiet``.
Use ``levrf.progress.enable(True)`` to see them from Python too. Functions with their own
``quiet`` switch (training, the experiments) pass ``show=not quiet``, which overrides it.
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


def _shown(total: int | None, min_items: int, show: bool | None) -> bool:
    if show is not None and not isinstance(show, bool):
        raise TypeError(f"show must be None, True or False, got {type(show).__name__}")
    wanted = enabled() if show is None else show
    return wanted and (total is None or total >= min_items)


def progress(iterable: Iterable, desc: str, total: int | None = None, min_items: int = 2,
             show: bool | None = None):
    """``tqdm`` over ``iterable`` when bars are shown and there is more than one item.

    ``show=None`` follows :func:`enable`; ``True``/``False`` decide for this loop.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return tqdm(iterable, desc=desc, total=total, disable=not _shown(total, min_items, show), leave=False)


def progress_bar(total: int | None, desc: str, min_items: int = 2, show: bool | None = None):
    """A bar advanced by hand (``bar.update(1)``, then ``bar.close()``), shown as :func:`progress`."""
    return tqdm(total=total, desc=desc, disable=not _shown(total, min_items, show), leave=False)
