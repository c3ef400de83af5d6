"""Type stubs for the compiled Rust core (internal; use the functions in `latentgeo`)."""

from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

def knn_f32(
    data: npt.NDArray[np.float32],
    query: Optional[npt.NDArray[np.float32]],
    k: int,
    metric: str,
    self_offset: Optional[int] = None,
    n_threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def knn_f64(
    data: npt.NDArray[np.float64],
    query: Optional[npt.NDArray[np.float64]],
    k: int,
    metric: str,
    self_offset: Optional[int] = None,
    n_threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
def k_occurrence(indices: npt.NDArray[np.int64], n_index: int) -> npt.NDArray[np.int64]: ...
def dijkstra(
    n: int,
    indptr: npt.NDArray[np.int64],
    indices: Union[npt.NDArray[np.int32], npt.NDArray[np.int64]],
    weights: npt.NDArray[np.float64],
    sources: npt.NDArray[np.int64],
    out: Union[npt.NDArray[np.float32], npt.NDArray[np.float64]],
    predecessors: Optional[npt.NDArray[np.int64]] = None,
    limit: Optional[float] = None,
    n_threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> None: ...
def geodesic_neighbors(
    n: int,
    indptr: npt.NDArray[np.int64],
    indices: Union[npt.NDArray[np.int32], npt.NDArray[np.int64]],
    weights: npt.NDArray[np.float64],
    sources: npt.NDArray[np.int64],
    k: int,
    out_indices: npt.NDArray[np.int64],
    out: Union[npt.NDArray[np.float32], npt.NDArray[np.float64]],
    n_threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> None: ...
def unargmax_f32(
    w: npt.NDArray[np.float32],
    b: Optional[npt.NDArray[np.float64]],
    classes: Optional[npt.NDArray[np.int64]],
    bounds: Optional[float],
    tol: float,
    patience: int,
    n_threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Dict[str, Any]: ...
def unargmax_f64(
    w: npt.NDArray[np.float64],
    b: Optional[npt.NDArray[np.float64]],
    classes: Optional[npt.NDArray[np.int64]],
    bounds: Optional[float],
    tol: float,
    patience: int,
    n_threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Dict[str, Any]: ...

class GaussianMixtureCore:
    def __init__(
        self,
        weights: npt.NDArray[np.float64],
        means: npt.NDArray[np.float64],
        covariances: npt.NDArray[np.float64],
        covariance_type: str,
    ) -> None: ...
    @property
    def weights(self) -> npt.NDArray[np.float64]: ...
    @property
    def covariances(self) -> npt.NDArray[np.float64]: ...
    def evaluate(
        self,
        x: npt.NDArray[np.float64],
        s: npt.NDArray[np.float64],
        sigma: npt.NDArray[np.float64],
        log_prob: bool = False,
        score: bool = False,
        denoise: bool = False,
        divergence: Optional[Tuple[float, float]] = None,
        n_threads: Optional[int] = None,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> Tuple[
        Optional[npt.NDArray[np.float64]],
        Optional[npt.NDArray[np.float64]],
        Optional[npt.NDArray[np.float64]],
        Optional[npt.NDArray[np.float64]],
    ]: ...

def diffusion_sample(*args: Any, **kwargs: Any) -> Tuple[Any, Any, Any, Dict[str, Any]]: ...
def diffusion_likelihood(*args: Any, **kwargs: Any) -> Tuple[Any, Dict[str, Any]]: ...
def diffusion_schedule_at(
    schedule_kind: str,
    params: npt.NDArray[np.float64],
    table: Optional[npt.NDArray[np.float64]],
    t: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def diffusion_normals(
    seed: int, stream: str, first_index: int, step: int, n: int, d: int
) -> npt.NDArray[np.float64]: ...
def exact_log(
    logits: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    sigma: float,
    margin: Optional[float],
    nodes: npt.NDArray[np.float64],
    log_weights: npt.NDArray[np.float64],
    want_grad: bool,
    n_threads: Optional[int] = None,
) -> Tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]]: ...
