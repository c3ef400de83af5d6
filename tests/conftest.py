"""Fixtures shared by the whole suite, and its hypothesis profiles.

Profiles (``LATENTGEO_HYPOTHESIS_PROFILE``): ``ci`` (the default) runs every property test with
the example count written at the test (``@examples(n)`` from ``support.strategies``), no
deadline and fixed (derandomized) examples; ``thorough`` runs ten times as many random examples,
for longer local runs::

    LATENTGEO_HYPOTHESIS_PROFILE=thorough python -m pytest -m "not slow"
"""

import os

import numpy as np
import pytest
from hypothesis import settings
from support.strategies import BASE_EXAMPLES

from latentgeo.datasets import make_example

# "ci" is derandomized: the same examples on every run and machine, so a red build is always
# reproducible; "thorough" draws fresh random examples (and keeps failures in .hypothesis/).
settings.register_profile("ci", deadline=None, max_examples=BASE_EXAMPLES, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=10 * BASE_EXAMPLES)
settings.load_profile(os.environ.get("LATENTGEO_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A generator seeded with 0, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def example():
    """The example embeddings (600 x 32, 8 clusters: the k = 10 graph is disconnected)."""
    return make_example(n=600, d=32, seed=3)


@pytest.fixture
def example_npy(tmp_path, example):
    """The example embeddings saved as ``emb.npy`` in the test's temporary folder."""
    path = tmp_path / "emb.npy"
    np.save(path, example)
    return path
