"""The case families of the fuzz harness: every public function crossed with the kinds of
adversarial input it takes.

A family is ``"function/kind"``; its strategy draws case dicts for ``runner.py``:
``target`` (a latentgeo name, ``"@method:NAME"`` or ``"cli"``), ``args``/``kwargs`` (tags
from ``support.adversarial``), ``expect`` (``"result"`` when the input is valid and must give a
right answer), ``check`` (a name in ``checks.CHECKS`` and its parameters), ``words`` (extra
words a clear error message may use) and ``allow`` (extra allowed exception classes).
"""

import numpy as np
from hypothesis import strategies as st
from support.adversarial import (
    GRAPH_KINDS,
    MATRIX_KINDS,
    arr,
    call,
    file_,
    graphs,
    knn_pairs,
    matrices,
    moderate,
    nk_arrays,
    npy_files,
    npz_files,
    path,
    safetensors_files,
)

METRICS = ("euclidean", "sqeuclidean", "cosine", "inner_product")
FAMILIES = {}  # area -> {family: strategy}


def family(area, name):
    def deco(fn):
        FAMILIES.setdefault(area, {})[name] = fn
        return fn

    return deco


def case(target, *args, check=None, expect="any", words=(), allow=(), **kwargs):
    return {
        "target": target,
        "args": list(args),
        "kwargs": kwargs,
        "check": check,
        "expect": expect,
        "words": list(words),
        "allow": list(allow),
    }


def valid(kind):
    return "result" if kind == "valid" else "any"


# ---------------------------------------------------------------- vectors -> kNN, hubness


def _vector_family(fn_name, builder):
    for kind in MATRIX_KINDS:

        @st.composite
        def strat(draw, kind=kind):
            X, info = draw(matrices(kind))
            return builder(draw, X, info, kind)

        family(
            "neighbors" if fn_name in ("knn", "as_knn", "knn_graph") else "hubs",
            fn_name + "/" + kind,
        )(strat)


def _k_for(draw, info):
    n = len(info["moderate"]) if "moderate" in info else 3
    return draw(st.integers(1, max(1, n - 1)))


def _ref_ok(info):
    return "moderate" in info and len(info["moderate"]) >= 2


def _knn_builder(target):
    def build(draw, X, info, kind):
        metric = draw(st.sampled_from(METRICS))
        k = _k_for(draw, info)
        chk = None
        if _ref_ok(info):
            chk = (
                "knn_ref",
                dict(moderate=info["moderate"], scale=info["scale"], k=k, metric=metric),
            )
        return case(target, X, k, metric=metric, check=chk, expect=valid(kind))

    return build


_vector_family("knn", _knn_builder("knn"))
_vector_family("as_knn", _knn_builder("as_knn"))


def _graph_builder(draw, X, info, kind):
    k = _k_for(draw, info)
    chk = None
    if _ref_ok(info):
        chk = ("graph_ref", dict(moderate=info["moderate"], scale=info["scale"], k=k))
    return case("knn_graph", X, k, check=chk, expect=valid(kind))


_vector_family("knn_graph", _graph_builder)


def _hub_builder(target, chk_name):
    def build(draw, X, info, kind):
        k = _k_for(draw, info)
        chk = None
        if _ref_ok(info):
            chk = (chk_name, dict(moderate=info["moderate"], k=k))
        return case(target, X, k, check=chk, expect=valid(kind))

    return build


_vector_family("hubness", _hub_builder("hubness", "hub_ref"))
_vector_family("k_occurrence", _hub_builder("k_occurrence", "kocc_ref"))


def _reduce_builder(draw, X, info, kind):
    n = len(info["moderate"]) if "moderate" in info else 3
    method = draw(st.sampled_from(["mp", "mp_empiric", "ls", "nicdm", "csls", "dissim"]))
    k = 1
    chk = ("knn_valid", dict(n=n, k=k)) if _ref_ok(info) and n >= 3 else None
    return case(
        "reduce_hubness",
        X,
        method,
        k=k,
        n_candidates=max(1, n - 1),
        check=chk,
    )


_vector_family("reduce_hubness", _reduce_builder)


def _sample_hubs_builder(draw, X, info, kind):
    k = _k_for(draw, info)
    thr = draw(st.integers(0, 3))
    chk = None
    if _ref_ok(info):
        chk = ("hubs_ref", dict(moderate=info["moderate"], scale=info["scale"], k=k, threshold=thr))
    return case("sample_hubs", X, k=k, threshold=thr, check=chk, expect="any")


_vector_family("sample_hubs", _sample_hubs_builder)


def _norm_trunc_builder(draw, X, info, kind):
    n = len(info["moderate"]) if "moderate" in info else 3
    n_keep = draw(st.integers(1, n))
    chk = None
    if _ref_ok(info):
        chk = (
            "norm_trunc_ref",
            dict(moderate=info["moderate"], scale=info["scale"], n_keep=n_keep),
        )
    return case("norm_truncation", X, n_keep, check=chk, expect=valid(kind))


_vector_family("norm_truncation", _norm_trunc_builder)


@family("neighbors", "knn/k")
@st.composite
def _knn_k(draw):
    X = draw(moderate())
    fn = draw(st.sampled_from(["knn", "as_knn", "knn_graph", "hubness", "k_occurrence"]))
    return case(fn, arr(X), draw(st.sampled_from([0, -1, len(X), 10**12, 2**63, 1.5, "2", True])))


@family("neighbors", "knn/options")
@st.composite
def _knn_options(draw):
    X = draw(moderate())
    opt = draw(
        st.sampled_from(
            [
                {"metric": "manhattan"},
                {"metric": None},
                {"n_threads": 0},
                {"n_threads": -3},
                {"n_threads": 10**12},
                {"query": arr(np.ones((2, X.shape[1] + 1)))},
                {"query": arr(np.full((2, X.shape[1]), np.nan))},
                {"query": arr(np.ones((0, X.shape[1])))},
            ]
        )
    )
    return case("knn", arr(X), 1, **opt)


for _kind in ("valid", "index", "distance", "shape"):

    @family("neighbors", "precomputed/" + _kind)
    @st.composite
    def _pre(draw, kind=_kind):
        pair, info = draw(knn_pairs(kind))
        fn = draw(
            st.sampled_from(["as_knn", "hubness", "k_occurrence", "knn_graph", "reduce_hubness"])
        )
        k = info["k"]
        chk = None
        if kind == "valid" and fn == "k_occurrence":
            chk = ("kocc_ref", dict(moderate=info["moderate"], k=k))
        if fn == "reduce_hubness":
            return case(fn, pair, "mp", k=1)
        return case(fn, pair, k, check=chk, expect=valid(kind))


@family("hubs", "scores/nk")
@st.composite
def _scores(draw):
    kind = draw(st.sampled_from(["valid", "bad", "bad"]))
    nk, _ = draw(nk_arrays(kind))
    fn = draw(
        st.sampled_from(
            [
                "skewness",
                "robinhood",
                "gini",
                "atkinson",
                "antihub_occurrence",
                "groupie_ratio",
                "hub_occurrence",
            ]
        )
    )
    args = (nk, 3) if fn == "hub_occurrence" else (nk,)
    return case(fn, *args, words=("nk", "k-occurrence", "occurrence"))


# ---------------------------------------------------------------- geodesics


for _kind in GRAPH_KINDS:

    @family("geodesics", "geodesic/" + _kind)
    @st.composite
    def _geo(draw, kind=_kind):
        G, info = draw(graphs(kind))
        directed = draw(st.booleans()) if kind == "valid" else draw(st.booleans())
        dtype = draw(st.sampled_from(["float32", "float64"]))
        chk = None
        if "dense" in info:
            chk = ("geo_ref", dict(dense=info["dense"], directed=directed, dtype=dtype))
        return case(
            "geodesic",
            G,
            directed=directed,
            dtype=np.dtype(dtype),
            check=chk,
            expect=valid(kind),
            words=("graph", "weight", "edge", "csr"),
        )

    @family("geodesics", "graph-functions/" + _kind)
    @st.composite
    def _geo_other(draw, kind=_kind):
        G, info = draw(graphs(kind))
        dense = info.get("dense")
        n = dense.shape[0] if dense is not None else 2
        fn = draw(
            st.sampled_from(
                [
                    "connected_components",
                    "as_graph",
                    "geodesic_neighbors",
                    "geodesic_blocks",
                    "geodesic_reduce",
                    "handle_components",
                    "as_knn",
                ]
            )
        )
        words = ("graph", "weight", "edge", "csr", "sparse", "k")
        if fn == "connected_components":
            chk = ("cc_ref", dict(dense=dense)) if dense is not None else None
            return case(fn, G, check=chk, expect=valid(kind), words=words)
        if fn == "geodesic_neighbors":
            k = draw(st.integers(1, max(1, n - 1)))
            chk = (
                ("nbrs_ref", dict(dense=np.maximum(dense, dense.T), k=k))
                if dense is not None
                else None
            )
            if dense is not None and n < 2:
                chk = None
            return case(fn, G, k, dtype=np.float64, check=chk, words=words)
        if fn == "geodesic_blocks":
            c = case(fn, G, block_size=2, dtype=np.float64, words=words)
            c["post"] = ("list",)
            if dense is not None:
                c["check"] = ("blocks_ref", dict(dense=dense))
            return c
        if fn == "geodesic_reduce":
            return case(fn, G, "min", check=("no_nan", {}), words=words)
        if fn == "handle_components":
            return case(fn, G, draw(st.sampled_from(["inf", "largest", "raise"])), words=words)
        if fn == "as_knn":
            return case(fn, G, draw(st.sampled_from([1, 2, 10**12])), words=words)
        return case(fn, G, check=("no_nan", {}), words=words)


@family("geodesics", "geodesic/sources")
@st.composite
def _geo_sources(draw):
    W = np.array([[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]])
    src = draw(
        st.sampled_from(
            [
                [3],
                [-1],
                [10**15],
                [2**63],
                [0.5],
                ["0"],
                [[0, 1]],
                [],
                arr(np.array([True, False, True])),
            ]
        )
    )
    fn = draw(st.sampled_from(["geodesic", "geodesic_reduce", "geodesic_blocks"]))
    c = case(fn, arr(W), sources=src, words=("source", "index"))
    if fn == "geodesic_blocks":
        c["post"] = ("list",)
    return c


@family("geodesics", "geodesic/options")
@st.composite
def _geo_options(draw):
    W = np.array([[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]])
    opt = draw(
        st.sampled_from(
            [
                {"limit": float("nan")},
                {"limit": -1.0},
                {"dtype": np.int32},
                {"dtype": np.complex128},
                {"out": arr(np.zeros((2, 2)))},
                {"out": arr(np.zeros((3, 3), np.float32), "readonly")},
                {"out": arr(np.zeros((3, 3), np.float32), "f")},
                {"policy": "bogus"},
                {"n_threads": 0},
            ]
        )
    )
    return case("geodesic", arr(W), words=("out", "limit", "dtype", "policy", "thread"), **opt)


@family("geodesics", "reconstruct_path/predecessors")
@st.composite
def _paths(draw):
    preds = draw(
        st.sampled_from(
            [
                np.array([[-9999, 0, 1]]),  # valid (NO_PREDECESSOR is -9999)
                np.array([[-9999, 2, 1]]),  # a cycle 1 <-> 2
                np.array([[-9999, 5, 1]]),  # out of range
                np.array([[-9999, -5, 1]]),
                np.array([[1, 0, 1]]),  # the source has a predecessor: a cycle
                np.array([-9999, 0, 1]),
                np.zeros((0, 3), np.int64),
                np.array([[-9999.0, 0.5, 1.0]]),
            ]
        )
    )
    target = draw(st.sampled_from([2, 3, -1, 10**15]))
    return case(
        "reconstruct_path", arr(preds), 0, target, words=("predecessor", "target", "source")
    )


@family("geodesics", "geodesic_scores+summarize/" + "vectors")
@st.composite
def _scores_geo(draw):
    kind = draw(st.sampled_from(MATRIX_KINDS))
    X, info = draw(matrices(kind, n=(3, 10)))
    fn = draw(st.sampled_from(["geodesic_scores", "summarize"]))
    n = len(info["moderate"]) if "moderate" in info else 3
    k = draw(st.integers(1, max(1, n - 1)))
    if fn == "geodesic_scores":
        d = info["moderate"].shape[1] if "moderate" in info else 3
        centre = draw(st.sampled_from([np.zeros(d), np.full(d, np.nan), np.zeros(d + 1)]))
        return case(fn, X, arr(centre), k, check=("no_nan", {}), words=("centre", "centres"))
    m = draw(st.sampled_from([1, n, n + 1, 0, 10**12]))
    return case(fn, X, m, k=k, words=("m", "centre"))


# ---------------------------------------------------------------- unargmax


def _planted(draw, d=(2, 3)):
    """W (V, d) float64 in general position with one planted unargmaxable class (the mean of
    two others), and its id."""
    seed = draw(st.integers(0, 2**16))
    d = draw(st.integers(*d))
    V = draw(st.integers(4, 8))
    W = np.random.default_rng(seed).integers(-8, 9, (V, d)).astype(np.float64)
    W[0] = (W[1] + W[2]) / 2
    return W


@family("unargmax", "unargmaxable/scale")
@st.composite
def _unarg_scale(draw):
    W = _planted(draw)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    exps = [-80, -40, 0, 60, 100] if dtype == np.float32 else [-560, -300, 0, 300, 500]
    s = 2.0 ** draw(st.sampled_from(exps))
    return case(
        "unargmaxable",
        arr((W * s).astype(dtype)),
        check=("unarg_ref", dict(moderate=W, planted=[0])),
    )


@family("unargmax", "unargmaxable/bad")
@st.composite
def _unarg_bad(draw):
    kind = draw(st.sampled_from(["nonfinite", "empty", "ndim", "dtype"]))
    X, _ = draw(matrices(kind))
    opt = draw(
        st.sampled_from(
            [
                {},
                {"b": arr(np.ones(3))},
                {"b": arr(np.array([np.nan]))},
                {"classes": [10**15]},
                {"classes": [-1]},
                {"bounds": -1.0},
                {"bounds": float("nan")},
                {"tol": -1.0},
            ]
        )
    )
    return case("unargmaxable", X, words=("w", "b", "classes", "bounds", "tol"), **opt)


@family("unargmax", "unargmaxable/options")
@st.composite
def _unarg_opts(draw):
    W = _planted(draw)
    opt = draw(
        st.sampled_from(
            [
                {"b": arr(np.ones(len(W) + 1))},
                {"b": arr(np.full(len(W), np.inf))},
                {"classes": [len(W)]},
                {"classes": [10**15]},
                {"classes": arr(np.array([0.5]))},
                {"bounds": 0.0},
                {"bounds": float("inf")},
                {"tol": float("nan")},
                {"patience": -1},
                {"patience": 10**12},
            ]
        )
    )
    return case("unargmaxable", arr(W), words=("b", "classes", "bounds", "tol", "patience"), **opt)


_WEIGHT_FILES = {"npy": npy_files, "npz": npz_files, "safetensors": safetensors_files}
for _ext, _strat in _WEIGHT_FILES.items():
    for _kind in ("valid", "bad"):

        @family("files", "load_weights/%s-%s" % (_ext, _kind))
        @st.composite
        def _files(draw, ext=_ext, strat=_strat, kind=_kind):
            payload, info = draw(strat(kind))
            fn = draw(st.sampled_from(["load_weights", "list_tensors"]))
            f = file_("w." + ext, payload)
            kw = {}
            if fn == "load_weights" and ext == "npz":
                kw["weight"] = "W"
            if fn == "load_weights" and ext == "safetensors":
                kw["weight"] = "lm_head.weight"
            chk = None
            if kind == "valid" and fn == "load_weights":
                chk = ("weights_ref", dict(array=info["array"]))
            return case(
                fn,
                f,
                check=chk,
                expect=valid(kind),
                allow=("OSError", "FileNotFoundError"),
                words=(
                    "tensor",
                    "weight",
                    "offset",
                    "json",
                    "zip",
                    "pickle",
                    "corrupt",
                    "truncated",
                ),
                **kw,
            )


@family("files", "load_weights/paths")
@st.composite
def _file_paths(draw):
    p = draw(st.sampled_from([path("missing.npy"), path(""), path("w.txt"), 3, None]))
    fn = draw(st.sampled_from(["load_weights", "list_tensors"]))
    return case(
        fn, p, allow=("OSError", "FileNotFoundError"), words=("path", "suffix", "extension")
    )


# ---------------------------------------------------------------- whitening


@family("whitening", "Whitening/fit-transform")
@st.composite
def _whiten(draw):
    kind = draw(st.sampled_from(MATRIX_KINDS))
    X, info = draw(matrices(kind, n=(6, 12), d=(1, 4)))
    params = draw(
        st.sampled_from(
            [
                {},
                {"beta": 0.5, "gamma": 0.0},
                {"n_components": 1},
                {"n_components": 0},
                {"n_components": 10**12},
                {"beta": float("nan")},
                {"eps": -1.0},
                {"eps": 0.0},
            ]
        )
    )
    method = draw(st.sampled_from(["fit", "partial_fit"]))
    c = case("@method:" + method, call("Whitening", **params), X, words=tuple(params) + ("x",))
    c["post"] = ("method", "transform", [X])
    c["check"] = ("finite", {})
    return c


@family("whitening", "Whitening/save-load")
@st.composite
def _whiten_io(draw):
    X = draw(moderate(n=(6, 10)))
    op = draw(st.sampled_from(["save-missing-dir", "save-unfitted", "load-bad", "load-missing"]))
    fitted = call("@method:fit", call("Whitening"), arr(X))
    if op == "save-missing-dir":
        c = case("@method:save", fitted, path("no/such/dir/w.npz"), words=("directory", "path"))
    elif op == "save-unfitted":
        c = case("@method:save", call("Whitening"), path("w.npz"), words=("fit", "fitted"))
    elif op == "load-bad":
        payload, _ = draw(npz_files("bad"))
        c = case("Whitening.load", file_("w.npz", payload), words=("zip", "npz", "whitening"))
    else:
        c = case("Whitening.load", path("nope.npz"))
    c["allow"] = ["OSError", "FileNotFoundError", "RuntimeError"]
    c["writes"] = True
    return c


@family("whitening", "whitening_grid/inputs")
@st.composite
def _wgrid(draw):
    kind = draw(st.sampled_from(MATRIX_KINDS))
    A, _ = draw(matrices(kind, n=(6, 8), d=(2, 3)))
    B, _ = draw(matrices("valid", n=(6, 6), d=(2, 3)))
    gold = draw(
        st.sampled_from(
            [arr(np.linspace(0, 1, 6)), arr(np.full(6, np.nan)), arr(np.ones(3)), arr(np.ones(6))]
        )
    )
    return case(
        "whitening_grid", A, B, gold, betas=(0.0, 1.0), gammas=(1.0,), words=("a", "b", "gold")
    )


# ---------------------------------------------------------------- losses


@st.composite
def _logits(draw, kind):
    n = draw(st.integers(1, 4))
    C = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**16))
    s = np.random.default_rng(seed).integers(-6, 7, (n, C)) / 2.0
    labels = np.random.default_rng(seed + 1).integers(0, C, n)
    if kind == "nonfinite":
        s[0, 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if kind == "huge":
        s = s * draw(st.sampled_from([1e19, 1e38, 1e300]))
    if kind == "tiny":
        s = s * draw(st.sampled_from([1e-30, 1e-300, 5e-324]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    with np.errstate(over="ignore"):
        return s.astype(dtype), labels


LOSS_KINDS = ("valid", "nonfinite", "huge", "tiny")
for _kind in LOSS_KINDS:

    @family("losses", "exact_accuracy/" + _kind)
    @st.composite
    def _exact(draw, kind=_kind):
        s, y = draw(_logits(kind))
        sigma = draw(st.sampled_from([1e-9, 1e-3, 0.5, 1.0, 1e3]))
        chk = None
        if kind == "valid":
            chk = ("exact_ref", dict(logits=s.astype(np.float64), labels=y, sigma=sigma))
        fn = draw(st.sampled_from(["exact_accuracy", "exact_accuracy", "exact_loss"]))
        if fn == "exact_loss":
            chk = ("finite", {})
        return case(
            "losses." + fn,
            arr(s),
            arr(y),
            sigma,
            return_grad=True,
            check=chk,
            expect=valid(kind),
            words=("logits", "labels", "sigma"),
        )

    @family("losses", "softmax-losses/" + _kind)
    @st.composite
    def _soft(draw, kind=_kind):
        s, y = draw(_logits(kind))
        fn = draw(
            st.sampled_from(
                [
                    "gumbel_accuracy",
                    "multilabel_softmax_ce",
                    "multiway_softmax_ce",
                    "accuracy",
                    "smoothed_accuracy",
                    "multilabel_softmax_proba",
                    "sparse_multilabel_softmax_ce",
                    "expected_accuracy_mc",
                ]
            )
        )
        words = ("logits", "labels", "targets", "scale", "positives")
        ok = kind == "valid"
        if fn == "gumbel_accuracy":
            chk = ("gumbel_ref", dict(logits=s, labels=y, scale=1.0)) if ok else None
            return case("losses." + fn, arr(s), arr(y), check=chk, expect=valid(kind), words=words)
        if fn == "multilabel_softmax_ce":
            t = (np.arange(s.shape[1]) % 2 == 0).astype(np.int64)[None].repeat(len(s), 0)
            chk = ("zlpr_ref", dict(logits=s, targets=t)) if ok else None
            return case("losses." + fn, arr(s), arr(t), check=chk, expect=valid(kind), words=words)
        if fn == "multilabel_softmax_proba":
            return case(
                "losses." + fn, arr(s), check=("no_nan", {}), expect=valid(kind), words=words
            )
        if fn == "sparse_multilabel_softmax_ce":
            return case("losses." + fn, arr(s), arr(y[:, None]), check=("finite", {}), words=words)
        if fn == "expected_accuracy_mc":
            return case("losses." + fn, arr(s), arr(y), n_samples=100, seed=0, words=words)
        return case(
            "losses." + fn, arr(s), arr(y), check=("no_nan", {}), expect=valid(kind), words=words
        )


@family("losses", "losses/shapes")
@st.composite
def _loss_shapes(draw):
    fn = draw(
        st.sampled_from(
            ["exact_accuracy", "exact_loss", "gumbel_accuracy", "multiway_softmax_ce", "accuracy"]
        )
    )
    logits, labels, extra = draw(
        st.sampled_from(
            [
                (np.zeros((2, 3)), np.array([0, 3]), {}),
                (np.zeros((2, 3)), np.array([0, -1]), {}),
                (np.zeros((2, 3)), np.array([0, 10**15]), {}),
                (np.zeros((2, 3)), np.array([0]), {}),
                (np.zeros((2, 3)), np.array([0.5, 1.0]), {}),
                (np.zeros((2, 0)), np.array([0, 0]), {}),
                (np.zeros((0, 3)), np.array([], np.int64), {}),
                (np.zeros(3), np.array(0), {}),
                (np.zeros((2, 3), complex), np.array([0, 1]), {}),
                (np.array([["a", "b"]]), np.array([0]), {}),
                (np.zeros((2, 3)), np.array([0, 1]), {"reduction": "bogus"}),
            ]
        )
    )
    if fn.startswith("exact"):
        extra = dict(extra, sigma=draw(st.sampled_from([0.0, -1.0, float("nan"), 1.0])))
        extra["n_nodes"] = draw(st.sampled_from([32, 1, 101, 10**9]))
    return case(
        "losses." + fn,
        arr(logits),
        arr(labels),
        words=("logits", "labels", "sigma", "n_nodes", "reduction", "class"),
        **extra,
    )


# ---------------------------------------------------------------- diffusion


PROCESSES = {
    "VP": [{}, {"beta_min": -1.0}, {"beta_min": float("nan")}, {"beta_max": 1e300}, {"eps": 0.0}],
    "VPCosine": [{}, {"cosine_s": -1.0}, {"beta_max": float("inf")}],
    "SubVP": [{}, {"beta_min": 30.0, "beta_max": 1.0}],
    "VE": [{}, {"sigma_min": 0.0}, {"sigma_min": 10.0, "sigma_max": 1.0}, {"sigma_max": 1e300}],
    "EDM": [{}, {"sigma_min": -1.0}, {"sigma_max": float("nan")}],
    "DiscreteDDPM": [{}, {"T": 0}, {"T": 10**12}, {"betas": arr(np.array([0.1, 1.5]))}],
}


@family("diffusion", "processes/time_grid")
@st.composite
def _procs(draw):
    name = draw(st.sampled_from(sorted(PROCESSES)))
    params = draw(st.sampled_from(PROCESSES[name]))
    steps = draw(st.sampled_from([1, 5, 0, -1, 10**12, 2.5]))
    kind = draw(st.sampled_from(["uniform", "quadratic", "logsnr", "karras", "bogus"]))
    chk = None
    if not params and steps in (1, 5) and kind != "bogus":
        chk = ("grid_ref", dict(steps=steps, discrete=name == "DiscreteDDPM"))
    words = tuple(params) + ("steps", "kind", "grid", "beta", "sigma", "process")
    return case(
        "diffusion.time_grid",
        call("diffusion." + name, **params),
        steps,
        kind,
        check=chk,
        words=words,
    )


def _gmm_spec():
    return [0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.2]


@family("diffusion", "GaussianMixture/params")
@st.composite
def _gmm(draw):
    w, m, v = _gmm_spec()
    bad = draw(
        st.sampled_from(
            [
                None,
                ("weights", [0.5, 0.6]),
                ("weights", [-0.3, 1.3]),
                ("weights", [float("nan"), 1.0]),
                ("weights", []),
                ("means", [[0.0, float("inf")], [1.0, 1.0]]),
                ("means", [[0.0], [1.0]]),
                ("covariances", [-1.0, 1.0]),
                ("covariances", [1e-300, 1.0]),
                ("covariances", [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
                ("covariances", [1e300, 1.0]),
            ]
        )
    )
    spec = {"weights": w, "means": m, "covariances": v}
    ctype = "spherical"
    if bad:
        spec[bad[0]] = bad[1]
        if bad[0] == "covariances" and np.ndim(bad[1]) == 3:
            ctype = "full"
    x = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 1.0]])
    g = call(
        "diffusion.GaussianMixture", spec["weights"], spec["means"], spec["covariances"], ctype
    )
    chk = ("gmm_ref", dict(weights=w, means=m, var=v, x=x)) if bad is None else ("no_nan", {})
    return case(
        "@method:log_prob",
        g,
        arr(x),
        check=chk,
        expect="result" if bad is None else "any",
        words=("weights", "means", "covariances", "covariance", "semi-definite", "psd"),
    )


@family("diffusion", "sample/shape-steps")
@st.composite
def _sample(draw):
    w, m, v = _gmm_spec()
    g = call("diffusion.GaussianMixture", w, m, v, "spherical")
    shape = draw(
        st.sampled_from([(4, 2), (0, 2), (4, 3), (-1, 2), (10**12, 2), (2**62, 2**62), (4,), "x"])
    )
    steps = draw(st.sampled_from([3, 0, -1, 10**12]))
    method = draw(st.sampled_from(["euler", "heun", "ddim", "dpmpp_2m", "euler_maruyama", "bogus"]))
    proc = call("diffusion." + draw(st.sampled_from(["VP", "VE", "EDM"])))
    chk = ("finite", dict(shape=shape)) if shape == (4, 2) else None
    return case(
        "diffusion.sample",
        proc,
        g,
        shape=shape,
        steps=steps,
        method=method,
        check=chk,
        expect="result" if shape == (4, 2) and steps == 3 and method != "bogus" else "any",
        words=("shape", "steps", "method", "sampler", "dimension", "model"),
    )


@family("diffusion", "sample/x")
@st.composite
def _sample_x(draw):
    w, m, v = _gmm_spec()
    g = call("diffusion.GaussianMixture", w, m, v, "spherical")
    kind = draw(st.sampled_from(MATRIX_KINDS))
    X, _ = draw(matrices(kind, d=(2, 2)))
    fn = draw(st.sampled_from(["sample", "log_likelihood"]))
    kw = {"steps": 3, "method": "euler"} if fn == "sample" else {"method": "euler", "steps": 4}
    return case(
        "diffusion." + fn,
        call("diffusion.VP"),
        g,
        X,
        check=("no_nan", {}),
        words=("x", "dimension", "shape"),
        **kw,
    )


@family("diffusion", "log_likelihood/valid")
@st.composite
def _ll(draw):
    w, m, v = _gmm_spec()
    g = call("diffusion.GaussianMixture", w, m, v, "spherical")
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).normal(size=(2, 2))
    return case(
        "diffusion.log_likelihood",
        call("diffusion.VP"),
        g,
        arr(x),
        check=("ll_ref", dict(weights=w, means=m, var=v, x=x)),
        expect="result",
    )


# ---------------------------------------------------------------- CLI


def cli(*argv, **extra):
    c = {"target": "cli", "args": list(argv), "kwargs": {}}
    c.update(extra)
    return c


@st.composite
def _any_input_file(draw):
    which = draw(st.sampled_from(["npy-valid", "npy-bad", "npy-bad", "npz-bad", "npy-huge"]))
    if which == "npy-valid":
        return file_("e.npy", draw(npy_files("valid"))[0])
    if which == "npz-bad":
        return file_("e.npz", draw(npz_files("bad"))[0])
    if which == "npy-huge":
        X, _ = draw(matrices(draw(st.sampled_from(["huge", "nonfinite", "empty", "ndim"]))))
        return file_("e.npy", _npy(X))
    return file_("e.npy", draw(npy_files("bad"))[0])


def _npy(tag):
    from support.adversarial import npy_bytes

    return npy_bytes(np.asarray(tag[1]))


@family("cli", "cli/audit+hubness")
@st.composite
def _cli_read(draw):
    f = draw(_any_input_file())
    cmd = draw(st.sampled_from(["audit", "hubness"]))
    k = draw(st.sampled_from(["2", "0", "-1", "1000000000000", "x"]))
    return cli(cmd, f, "--k", k, "--json")


@family("cli", "cli/outputs")
@st.composite
def _cli_out(draw):
    f = draw(_any_input_file())
    cmd = draw(st.sampled_from(["sample-hubs", "geodesic"]))
    out = draw(st.sampled_from([path("o.npy"), path("missing/o.npy"), path("o.txt")]))
    if cmd == "sample-hubs":
        return cli(cmd, f, "--k", "2", "--threshold", "1", "--out", out)
    return cli(
        cmd,
        f,
        "--k",
        "2",
        "--sources",
        draw(st.sampled_from(["0", "0,1", "99", "-1"])),
        "--out",
        out,
    )


@family("cli", "cli/unargmax")
@st.composite
def _cli_unarg(draw):
    which = draw(st.sampled_from(["npy", "safetensors", "safetensors-bad", "npz"]))
    if which == "npy":
        f = file_("w.npy", _npy(arr(_planted(draw))))
        argv = [f]
    elif which == "npz":
        f = file_("w.npz", draw(npz_files(draw(st.sampled_from(["valid", "bad"]))))[0])
        argv = [f, "--weight", "W"]
    else:
        kind = "valid" if which == "safetensors" else "bad"
        f = file_("w.safetensors", draw(safetensors_files(kind))[0])
        argv = [f, "--weight", "lm_head.weight"]
    classes = draw(st.sampled_from([None, "0-2", "0-1000000000000", "5-1", "x", "-3"]))
    if classes:
        argv += ["--classes", classes]
    return cli("unargmax", *argv, "--json", timeout=30)


@family("cli", "cli/sample")
@st.composite
def _cli_sample(draw):
    opt = draw(
        st.sampled_from(
            [
                ["--n", "8", "--steps", "3"],
                ["--n", str(10**12), "--steps", "3"],
                ["--n", "0"],
                ["--n", "8", "--steps", "0"],
                ["--n", "8", "--steps", "3", "--method", "bogus"],
                ["--n", "8", "--steps", "3", "--gmm", file_("g.json", b'{"weights": [1.0], ')],
                [
                    "--n",
                    "8",
                    "--steps",
                    "3",
                    "--gmm",
                    file_("g.json", b'{"weights": [1.0], "means": [[0, 0]], "covariances": [-1]}'),
                ],
                ["--n", "8", "--steps", "3", "--batch-size", "0"],
            ]
        )
    )
    out = draw(st.sampled_from([path("x.npy"), path("missing/x.npy")]))
    return cli("sample", *opt, "--out", out, timeout=30)


@family("cli", "cli/geodesic-centre")
@st.composite
def _cli_centre(draw):
    f = draw(_any_input_file())
    top = draw(st.sampled_from(["3", "0", "1000000000000"]))
    return cli("geodesic", f, "--k", "2", "--centre", "mean", "--top", top, "--json")
