"""Hypothesis strategies and settings shared by the property tests."""

from hypothesis import settings
from hypothesis import strategies as st

# The example count of the "ci" profile (conftest.py): a test's ``@examples(n)`` runs n examples
# under it, and n times the profile's count over this one under any other profile.
BASE_EXAMPLES = 100

SEEDS = st.integers(0, 2**32 - 1)


def examples(n):
    """``@settings`` of a property test that runs n examples under the "ci" profile (scaled by
    the active profile, e.g. 10 n under "thorough"); the deadline comes from the profile."""
    return settings(max_examples=max(1, n * settings.default.max_examples // BASE_EXAMPLES))
