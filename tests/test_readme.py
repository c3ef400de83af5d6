"""The README's Python tour runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no python block"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    kept = namespace["kept"]
    # Hub sampling keeps a few percent of 10,000 isotropic latents, all with N_5 >= 50.
    assert 0 < kept.latents.shape[0] < 1000
    assert (kept.k_occurrence >= 50).all()
