"""``import latentgeo`` loads only the compiled core; the flat names load their subpackage on first
use (issue 18: import under 0.3 s, half of which was scipy.stats)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import latentgeo

INIT = Path(latentgeo.__file__)


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_loads_no_subpackage_and_no_scipy():
    out = _run(
        "import sys, latentgeo\n"
        "heavy = ['scipy', 'latentgeo.neighbors', 'latentgeo.hubs', 'latentgeo.diffusion', "
        "'latentgeo.audits', 'latentgeo.whitening']\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    assert out == "[]"


def test_first_use_loads_the_subpackage_and_caches_the_name():
    out = _run(
        "import sys, latentgeo\n"
        "f = latentgeo.knn\n"
        "import latentgeo.neighbors as nb\n"
        "print(f is nb.knn, 'knn' in vars(latentgeo), 'latentgeo.diffusion' in sys.modules)"
    )
    assert out == "True True False"


def test_star_import_and_dir_give_every_public_name():
    out = _run(
        "import latentgeo\n"
        "ns = {}\n"
        "exec('from latentgeo import *', ns)\n"
        "names = set(latentgeo.__all__)\n"
        "print(sorted(names - set(ns)), sorted(names - set(dir(latentgeo))))"
    )
    assert out == "[] []"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'latentgeo' has no attribute 'knnn'"):
        latentgeo.knnn  # noqa: B018
    assert not hasattr(latentgeo, "_private_thing")


def test_type_checking_imports_match_the_lazy_table():
    """The eager imports shown to type checkers are exactly the lazily served names."""
    tree = ast.parse(INIT.read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    seen = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            seen[alias.name] = node.module or alias.name
    assert seen == latentgeo._SOURCES
    assert set(seen) | {"__version__"} == set(latentgeo.__all__)
