"""float32 output never turns a long but finite distance into inf (issue 13): such runs are
computed in float64 and refused with a clear error when a finite distance does not fit."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

import latentgeo

# A path 0 - 1 - 2 - 3 whose first two edges sum beyond the float32 range.
LONG = sp.csr_matrix(([3e38, 3e38, 1.0], ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
# The same edges, but the huge one is never on a path out of node 2 when directed.
SHORT_FROM_2 = LONG


def test_float64_output_is_exact():
    got = latentgeo.geodesic(LONG, 0, dtype=np.float64)
    np.testing.assert_array_equal(got, dijkstra(LONG, directed=False, indices=0))


@pytest.mark.parametrize(
    "call",
    [
        lambda: latentgeo.geodesic(LONG, 0),
        lambda: latentgeo.geodesic(LONG, [0, 3]),
        lambda: latentgeo.geodesic_neighbors(LONG, 2, sources=[0]),
        lambda: list(latentgeo.geodesic_blocks(LONG, [0, 1], block_size=1)),
    ],
)
def test_unrepresentable_float32_distance_is_an_error(call):
    with pytest.raises(ValueError, match="exceeds the float32 range; pass dtype=np.float64"):
        call()


def test_float32_output_is_kept_when_every_distance_fits():
    got = latentgeo.geodesic(SHORT_FROM_2, 2, directed=True)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [np.inf, np.inf, 0.0, 1.0])
    idx, dist = latentgeo.geodesic_neighbors(SHORT_FROM_2, 1, sources=[2], directed=True)
    assert idx.tolist() == [[3]] and dist.tolist() == [[1.0]]
    # the largest finite float32 is still a distance
    top = float(np.finfo(np.float32).max)
    edge = sp.csr_matrix(([top, 1e38], ([0, 1], [1, 2])), shape=(3, 3))
    assert latentgeo.geodesic(edge, 1, directed=True).tolist() == [np.inf, 0.0, np.float32(1e38)]
    assert latentgeo.geodesic(edge, [0], directed=True, limit=top)[0, 1] == top
    # geodesic_reduce works in float64 throughout
    assert latentgeo.geodesic_reduce(LONG, "max")[0] == 6e38
