"""The docstring examples of the imported package run as tests.

The modules are found and imported by name (``pkgutil.walk_packages`` over ``latentgeo.__path__``),
so the examples run against the installed package (the wheel in CI), never the source tree by
path. The option flags are pytest's doctest defaults (``ELLIPSIS``).
"""

import doctest
import importlib
import io
import pkgutil

import pytest

import latentgeo


def _has_dask() -> bool:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _module_names():
    names = ["latentgeo"]
    # latentgeo.scale needs the optional dask extra: its examples run where it is installed.
    skip = () if _has_dask() else ("latentgeo.scale",)
    for info in pkgutil.walk_packages(latentgeo.__path__, "latentgeo.", onerror=lambda name: None):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # importing it would run the CLI
            continue
        if not info.name.startswith(skip):
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _doctests(name):
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    # Only the examples written in this module (not ones re-exported from another).
    return [t for t in tests if t.examples and t.filename == getattr(module, "__file__", None)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in _doctests(name):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()


def test_the_examples_are_found():
    # A wrong walk (for example an empty __path__) must not pass silently by finding nothing.
    counts = {name: sum(len(t.examples) for t in _doctests(name)) for name in MODULES}
    assert sum(counts.values()) >= 50, counts
    assert counts["latentgeo.neighbors._knn"] > 0
