"""What every experiment result shares: JSON round trip and a figure written next to it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclasses.dataclass
class ExperimentResult:
    """Base class: subclasses are dataclasses of plain numbers, lists and dicts."""

    def to_dict(self) -> dict:
        return _jsonable(dataclasses.asdict(self))

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path):
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def plot(self, path: str | Path) -> Path:  # pragma: no cover - overridden
        raise NotImplementedError

    def save(self, directory: str | Path, stem: str) -> dict[str, Path]:
        """Write ``stem.json`` and ``stem.png`` into ``directory``; return both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / f"{stem}.json"
        self.to_json(json_path)
        return {"json": json_path, "png": self.plot(directory / f"{stem}.png")}


def write_atomic(path: str | Path, data: str | bytes | None = None, *, writer=None) -> Path:
    """Write ``data`` (or call ``writer(tmp_path)``) into a temporary file, then rename it to ``path``.

    A reader never sees a half-written file: the rename is atomic on one file system.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if data is not None:
                fh.write(data.encode() if isinstance(data, str) else data)
        if writer is not None:
            writer(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from other users
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def new_figure(width: float = 6.4, height: float = 4.4):
    """A matplotlib figure on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    return fig, ax


def finish_figure(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        write_atomic(path, writer=lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    finally:
        plt.close(fig)
    return path


def quartiles(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row 25th, 50th and 75th percentiles of a (points, seeds) array."""
    a = np.asarray(values, dtype=float)
    return tuple(np.nanpercentile(a, q, axis=1) for q in (25, 50, 75))
