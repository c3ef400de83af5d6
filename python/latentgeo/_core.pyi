"""Type stubs for the compiled Rust core (internal; use the functions in `latentgeo`).

Checked against the compiled module by ``python -m mypy.stubtest latentgeo._core``
(``tests/test_stubs.py``).
"""

from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "knn",
    "knn_pair",
    "knn_refine",
    "finite_max_abs",
    "k_occurrence",
    "dijkstra",
    "geodesic_neighbors",
    "unargmax",
    "witness_top_scores",
    "witness_gram_top_scores",
    "GaussianMixtureCore",
    "diffusion_sample",
    "diffusion_likelihood",
    "diffusion_schedule_at",
    "diffusion_normals",
    "exact_log",
]

__version__: str

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_Progress = Optional[Callable[[int, int], object]]
# (n, indptr, indices, weights) of an n x n CSR graph.
_Csr = Tuple[int, _I64, Union[npt.NDArray[np.int32], _I64], _F64]
# (kind, params, table) of a noise process.
_Process = Tuple[Literal["vp", "subvp", "cosine", "ve", "edm", "discrete"], _F64, Optional[_F64]]
_ModelKind = Literal["score", "eps", "x0", "v"]
_SampleMethod = Literal[
    "dopri5",
    "euler",
    "heun",
    "midpoint",
    "rk4",
    "ddim",
    "ancestral",
    "dpmpp_2m",
    "euler_maruyama",
    "pc",
]

def knn(
    data: Union[_F32, _F64],
    *,
    k: int,
    metric: Literal["euclidean", "sqeuclidean", "cosine", "inner_product"],
    query: Optional[Union[_F32, _F64]] = None,
    self_offset: Optional[int] = None,
    n_threads: Optional[int] = None,
    progress: _Progress = None,
    keys: bool = False,
) -> Tuple[_I64, Union[_F32, _F64]]: ...
def knn_pair(
    a: Union[_F32, _F64],
    b: Union[_F32, _F64],
    *,
    k_a: int,
    k_b: int,
    metric: Literal["euclidean", "sqeuclidean", "cosine", "inner_product"],
    n_threads: Optional[int] = None,
) -> Tuple[_I64, _F64, _I64, _F64]: ...
def knn_refine(
    data: Union[_F32, _F64],
    indices: _I64,
    keys: _F64,
    *,
    metric: Literal["euclidean", "sqeuclidean", "cosine", "inner_product"],
    rounds: int,
    reverse: int,
    exclude_self: bool,
    order: Optional[_I64] = None,
    fresh: Optional[npt.NDArray[np.bool_]] = None,
    n_threads: Optional[int] = None,
    progress: _Progress = None,
) -> Tuple[_I64, _F64, List[int]]: ...
def finite_max_abs(a: Union[_F32, _F64]) -> float: ...
def k_occurrence(indices: npt.NDArray[np.int64], *, n_index: int) -> _I64: ...
def dijkstra(
    graph: _Csr,
    *,
    sources: _I64,
    out: Union[_F32, _F64],
    predecessors: Optional[_I64] = None,
    limit: Optional[float] = None,
    n_threads: Optional[int] = None,
    progress: _Progress = None,
) -> None: ...
def geodesic_neighbors(
    graph: _Csr,
    *,
    sources: _I64,
    k: int,
    out_indices: _I64,
    out: Union[_F32, _F64],
    n_threads: Optional[int] = None,
    progress: _Progress = None,
) -> None: ...
def unargmax(
    w: Union[_F32, _F64],
    *,
    b: Optional[_F64] = None,
    classes: Optional[_I64] = None,
    bounds: Optional[float] = None,
    tol: float,
    patience: int,
    n_threads: Optional[int] = None,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def witness_top_scores(
    w: _F32,
    a: _F32,
    b: _F32,
    x: _F32,
    s: _F32,
    classes: _I64,
    *,
    n_threads: Optional[int] = None,
) -> Tuple[_F32, _I64, _F32]: ...
def witness_gram_top_scores(
    y: _F32,
    p: _F32,
    q: _F32,
    wanted: npt.NDArray[np.bool_],
    *,
    n_threads: Optional[int] = None,
) -> Tuple[_F32, _I64, _F32]: ...

@final
class GaussianMixtureCore:
    def __new__(
        cls,
        weights: _F64,
        means: _F64,
        covariances: _F64,
        *,
        covariance_type: Literal["full", "diag", "spherical"],
    ) -> GaussianMixtureCore: ...
    @property
    def weights(self) -> _F64: ...
    @property
    def covariances(self) -> _F64: ...
    def evaluate(
        self,
        x: _F64,
        s: _F64,
        sigma: _F64,
        *,
        log_prob: bool = False,
        score: bool = False,
        denoise: bool = False,
        divergence: Optional[Tuple[float, float]] = None,
        n_threads: Optional[int] = None,
        progress: _Progress = None,
    ) -> Tuple[Optional[_F64], Optional[_F64], Optional[_F64], Optional[_F64]]: ...

def diffusion_sample(
    process: _Process,
    model: Union[GaussianMixtureCore, Callable[[Any, Any], Any]],
    x: _F64,
    *,
    kind: _ModelKind,
    sample_shape: Sequence[int],
    call_f32: bool,
    int_t: bool,
    grid: _F64,
    to_data: bool,
    method: _SampleMethod,
    eta: float,
    r: float,
    snr: float,
    n_corrector: int,
    seed: int,
    first_index: int,
    rtol: float,
    atol: float,
    first_step: Optional[float],
    max_steps: int,
    save_every: int,
    callback: Optional[Callable[[Dict[str, Any]], object]] = None,
    progress: _Progress = None,
    n_threads: Optional[int] = None,
) -> Tuple[_F64, _F64, _F64, Dict[str, Any]]: ...
def diffusion_likelihood(
    process: _Process,
    model: Union[GaussianMixtureCore, Callable[[Any, Any], Any]],
    x: _F64,
    *,
    kind: _ModelKind,
    sample_shape: Sequence[int],
    call_f32: bool,
    times: _F64,
    method: Literal["dopri5", "euler", "midpoint", "heun", "rk4"],
    divergence: Literal["exact", "hutchinson"],
    probes: int,
    probe: Literal["rademacher", "gaussian"],
    seed: int,
    first_index: int,
    rtol: float,
    atol: float,
    first_step: Optional[float],
    max_steps: int,
    progress: _Progress = None,
    n_threads: Optional[int] = None,
) -> Tuple[_F64, _F64, Dict[str, Any]]: ...
def diffusion_schedule_at(process: _Process, t: _F64) -> _F64: ...
def diffusion_normals(
    seed: int,
    *,
    stream: Literal["prior", "step", "corrector", "probe"],
    first_index: int,
    step: int,
    n: int,
    d: int,
) -> _F64: ...
def exact_log(
    logits: _F64,
    labels: _I64,
    *,
    sigma: float,
    margin: Optional[float],
    quadrature: Tuple[_F64, _F64],
    want_grad: bool,
    n_threads: Optional[int] = None,
) -> Tuple[_F64, Optional[_F64]]: ...
