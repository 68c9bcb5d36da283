"""The README's quickstart really runs."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python code block"
    quickstart = blocks[0]
    assert len(quickstart.strip().splitlines()) <= 12  # "a 10-line quickstart"
    exec(compile(quickstart, "README quickstart", "exec"), {})
    out = capsys.readouterr().out
    eps = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+) ε = ([0-9.]+)", out)}
    assert set(eps) == {"gaussian", "leverage"}
    assert eps["leverage"] < eps["gaussian"]
    assert float(re.search(r"train R² = ([-0-9.]+)", out).group(1)) > 0.5
