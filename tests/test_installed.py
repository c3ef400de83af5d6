"""When CI tests the wheel, the package under test is the installed one, not ``python/``."""

import os
import sys
from pathlib import Path

import pytest

import latentgeo


@pytest.mark.skipif(
    os.environ.get("LATENTGEO_TEST_INSTALLED") != "1", reason="set by scripts/test-wheel only"
)
def test_the_package_under_test_is_the_installed_wheel():
    pkg = Path(latentgeo.__file__).resolve().parent
    assert Path(sys.prefix).resolve() in pkg.parents, pkg
    assert "site-packages" in pkg.parts, pkg
    assert any(p.name.startswith("_core.") for p in pkg.iterdir()), pkg
    from latentgeo import _core

    assert Path(_core.__file__).resolve().parent == pkg
