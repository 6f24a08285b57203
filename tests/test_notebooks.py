"""The notebooks run from top to bottom (their code cells, in order, in one namespace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102
    if path.name == "walkthrough.ipynb":
        assert (tmp_path / "notebook-output" / "coverage.html").is_file()
        assert namespace["plan"].summary["covered_share"] > 0.5
    else:  # each of the others ends with its own checks (asserts in its last cell) and writes its outputs
        assert "assert " in "".join(cells[-1]["source"])
        assert any((tmp_path / "notebook-output").iterdir())
