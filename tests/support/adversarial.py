"""Hypothesis strategies for adversarial inputs (the fuzz harness of tests/robustness/).

Values are plain picklable data so that a child process can replay them. Anything a pickle
cannot carry faithfully is a *tag*, a tuple whose first item names it, materialised by
:func:`materialize` in the process that makes the call:

- ``("@arr", array, layout)``: `array` laid out as ``"c"``, ``"f"`` (Fortran order),
  ``"strided"`` (a non-contiguous view) or ``"readonly"``;
- ``("@sparse", fmt, data, indices, indptr, shape)``: a scipy.sparse matrix built *without*
  checking its structure (so out-of-range indices and backward index pointers survive);
- ``("@file", name, payload)``: `payload` (bytes) written to `name` in the case's folder; the
  path;
- ``("@path", name)``: the path of `name` in the case's folder (not created);
- ``("@call", target, args, kwargs)``: the result of a latentgeo call (``"knn"``,
  ``"diffusion.VP"``, ...).

Magnitudes are powers of two, so scaling a moderate input is exact and a reference computed on
the moderate input is the exact answer for the scaled one.
"""

import io
import json
import os
import struct
import zipfile

import numpy as np
from hypothesis import strategies as st

# Scales per dtype: huge (about 1e19, 1e38, 1e300) and tiny (1e-30, 1e-300, subnormal).
HUGE = {np.float32: [2.0**63, 2.0**100, 2.0**124], np.float64: [2.0**63, 2.0**126, 2.0**997]}
TINY = {
    np.float32: [2.0**-100, 2.0**-130, 2.0**-140],
    np.float64: [2.0**-100, 2.0**-997, 2.0**-1060],
}
LAYOUTS = ("c", "f", "strided", "readonly")
# LATENTGEO_FUZZ=long: bigger arrays (and, in the harness, more examples per family).
LONG = os.environ.get("LATENTGEO_FUZZ") == "long"
NMAX = 60 if LONG else 10
FLOATS = (np.float32, np.float64)
BAD_INTS = [-1, 0, 10**12, 2**62, 2**63, 2**64 + 1, -(2**63)]
BAD_SCALARS = [1.5, float("nan"), float("inf"), "3", None, True, [3], np.int8(3)]


def arr(a, layout="c"):
    return ("@arr", np.asarray(a), layout)


def sparse(fmt, data, indices, indptr, shape):
    return ("@sparse", fmt, np.asarray(data), np.asarray(indices), np.asarray(indptr), shape)


def call(target, *args, **kwargs):
    return ("@call", target, list(args), kwargs)


def path(name):
    return ("@path", name)


def file_(name, payload):
    return ("@file", name, bytes(payload))


@st.composite
def moderate(draw, n=(2, NMAX), d=(1, 4), dtype=None, positive_first=True):
    """A finite (n, d) matrix of half-integers in [-4, 4] (exact in any float dtype: ties are
    exact ties), first column >= 1 so that no row is zero (cosine is defined)."""
    n = draw(st.integers(*n))
    d = draw(st.integers(*d))
    dtype = dtype or draw(st.sampled_from(FLOATS))
    seed = draw(st.integers(0, 2**16))
    X = np.random.default_rng(seed).integers(-8, 9, size=(n, d)) / 2.0
    if positive_first:
        X[:, 0] = np.abs(X[:, 0]) + 1.0
    return X.astype(dtype)


def lay(X, layout):
    return arr(X, layout)


@st.composite
def matrices(draw, kind, n=(2, NMAX), d=(1, 4)):
    """(tag, info) for one matrix argument of the given kind; info holds what a reference
    needs: ``moderate`` (the unscaled matrix) and ``scale`` where they apply."""
    if kind == "valid":
        X = draw(moderate(n=n, d=d))
        return lay(X, draw(st.sampled_from(LAYOUTS))), {"moderate": X, "scale": 1.0}
    if kind in ("huge", "tiny"):
        X = draw(moderate(n=n, d=d))
        s = draw(st.sampled_from((HUGE if kind == "huge" else TINY)[X.dtype.type]))
        return lay(X * X.dtype.type(s), draw(st.sampled_from(LAYOUTS))), {
            "moderate": X,
            "scale": s,
        }
    if kind == "nonfinite":
        X = draw(moderate(n=n, d=d))
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        i = draw(st.integers(0, X.shape[0] - 1))
        j = draw(st.integers(0, X.shape[1] - 1))
        X[i, j] = bad
        return lay(X, draw(st.sampled_from(LAYOUTS))), {}
    if kind == "empty":
        shape = draw(st.sampled_from([(0, 3), (4, 0), (0, 0), (1, 3)]))
        dtype = draw(st.sampled_from(FLOATS))
        return arr(np.ones(shape, dtype)), {}
    if kind == "ndim":
        shape = draw(st.sampled_from([(), (5,), (3, 2, 2), (1, 1, 1, 1)]))
        return arr(np.ones(shape)), {}
    if kind == "dtype":
        X = draw(moderate(n=n, d=d, dtype=np.float64))
        choice = draw(st.sampled_from(["int", "bool", "complex", "object", "str", "f16", "list"]))
        if choice == "int":
            return arr((X * 2).astype(np.int64)), {"moderate": X * 2, "scale": 1.0}
        if choice == "bool":
            return arr(X > 1), {}
        if choice == "complex":
            return arr(X + 1j), {}
        if choice == "object":
            o = X.astype(object)
            o[0, 0] = "x"
            return arr(o), {}
        if choice == "str":
            return arr(X.astype(str)), {}
        if choice == "f16":
            return arr(X.astype(np.float16)), {"moderate": X.astype(np.float32), "scale": 1.0}
        return X.tolist(), {"moderate": X, "scale": 1.0}
    raise ValueError(kind)


MATRIX_KINDS = ("valid", "huge", "tiny", "nonfinite", "empty", "ndim", "dtype")


def ks(n):
    """Adversarial neighbour counts for n points."""
    return st.sampled_from([0, -1, n, n + 1, 10**12, 2**63, 1.5, "2", None, True])


@st.composite
def nk_arrays(draw, kind):
    """k-occurrence vectors for the hubness score functions."""
    if kind == "valid":
        n = draw(st.integers(1, 12))
        seed = draw(st.integers(0, 2**16))
        return arr(np.random.default_rng(seed).integers(0, 8, n)), {}
    return draw(
        st.sampled_from(
            [
                (arr(np.array([1, -2, 3])), {}),
                (arr(np.array([1.0, np.nan, 2.0])), {}),
                (arr(np.array([1.0, np.inf, 2.0])), {}),
                (arr(np.array([], dtype=np.int64)), {}),
                (arr(np.zeros(5, np.int64)), {}),
                (arr(np.ones((2, 3), np.int64)), {}),
                (arr(np.array([2**62, 2**62, 2**62])), {}),
                (arr(np.array([True, False])), {}),
                (arr(np.array([1, "a"], dtype=object)), {}),
                (arr(np.array([1.5, 2.5])), {}),
                (arr(np.array([1, 2, 3], dtype=np.uint64)), {}),
            ]
        )
    )


def brute_knn(X, k, metric="euclidean"):
    """Reference kNN (self-join, self excluded): float64, ties to the lower index."""
    X = np.asarray(X, np.float64)
    n = X.shape[0]
    if metric in ("euclidean", "sqeuclidean"):
        D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        if metric == "euclidean":
            D = np.sqrt(D)
    elif metric == "cosine":
        nrm = np.linalg.norm(X, axis=1)
        D = 1.0 - (X @ X.T) / np.outer(nrm, nrm)
    else:
        D = -(X @ X.T)
    np.fill_diagonal(D, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(n), (n, n)), D), axis=1)[:, :k]
    dist = np.take_along_axis(D, order, 1)
    return order, (-dist if metric == "inner_product" else dist), D


@st.composite
def knn_pairs(draw, kind):
    """A precomputed kNN ``(indices, distances)`` for n points: valid, or broken one way."""
    X = draw(moderate(n=(3, 8), d=(1, 3), dtype=np.float64))
    n = X.shape[0]
    k = draw(st.integers(1, n - 1))
    idx, dist, _ = brute_knn(X, k)
    info = {"moderate": X, "k": k}
    if kind == "valid":
        return (arr(idx, draw(st.sampled_from(LAYOUTS))), arr(dist)), info
    if kind == "index":
        bad = draw(st.sampled_from([n, -1, 10**15, 2**62, -(2**62)]))
        idx = idx.copy()
        idx[draw(st.integers(0, n - 1)), draw(st.integers(0, k - 1))] = bad
        return (arr(idx), arr(dist)), info
    if kind == "distance":
        dist = dist.copy()
        dist[draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([np.nan, np.inf, -1.0]))
        return (arr(idx), arr(dist)), info
    if kind == "shape":
        return draw(
            st.sampled_from(
                [
                    ((arr(idx), arr(dist[:, :-1] if k > 1 else dist[:-1])), info),
                    ((arr(idx.ravel()), arr(dist.ravel())), info),
                    ((arr(idx.astype(np.float64) + 0.5), arr(dist)), info),
                    ((arr(idx[:0]), arr(dist[:0])), info),
                    ((arr(idx),), info),
                    ((arr(idx), arr(dist), arr(dist)), info),
                ]
            )
        )
    raise ValueError(kind)


@st.composite
def weighted_graphs(draw, n=(1, NMAX - 1)):
    """A dense (n, n) matrix of non-negative weights (0 = no edge), sparse-ish."""
    n = draw(st.integers(*n))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    W = rng.integers(1, 9, (n, n)) / 4.0
    W[rng.random((n, n)) < 0.6] = 0.0
    np.fill_diagonal(W, 0.0)
    return W


def csr_parts(W):
    import scipy.sparse as sp

    G = sp.csr_matrix(W)
    return G.data.copy(), G.indices.copy(), G.indptr.copy(), G.shape


@st.composite
def graphs(draw, kind):
    """(graph tag, info) with info["dense"] the reference weights for the valid kinds."""
    W = draw(weighted_graphs())
    n = W.shape[0]
    dtype = draw(st.sampled_from(FLOATS))
    if kind == "valid":
        form = draw(st.sampled_from(["csr", "csc", "coo", "dense", "sym"]))
        if form == "sym":
            W = np.maximum(W, W.T)
            form = "csr"
        W = W.astype(dtype)
        if form == "dense":
            return arr(W, draw(st.sampled_from(LAYOUTS))), {"dense": W}
        data, ind, ptr, shape = csr_parts(W)
        if form == "csr":
            return sparse("csr", data, ind, ptr, shape), {"dense": W}
        import scipy.sparse as sp

        G = sp.csr_matrix(W).asformat(form)
        if form == "csc":
            return sparse("csc", G.data, G.indices, G.indptr, shape), {"dense": W}
        return sparse("coo", G.data, G.row, G.col, shape), {"dense": W}
    if kind == "long":
        # a path whose length overflows float32 although every edge is finite in float32
        m = max(n, 3)
        w = draw(st.sampled_from([2.0**127, 3e38]))
        W = np.zeros((m, m))
        for i in range(m - 1):
            W[i, i + 1] = W[i + 1, i] = w
        W = W.astype(np.float32)
        data, ind, ptr, shape = csr_parts(W)
        return sparse("csr", data, ind, ptr, shape), {"dense": W.astype(np.float64)}
    W = np.maximum(W, W.T)
    W[0, min(1, n - 1)] = W[min(1, n - 1), 0] = 1.0
    data, ind, ptr, shape = csr_parts(W.astype(dtype))
    if kind == "weights":
        data = data.copy()
        if len(data):
            data[draw(st.integers(0, len(data) - 1))] = draw(
                st.sampled_from([np.nan, np.inf, -1.0, -np.inf])
            )
        return sparse("csr", data, ind, ptr, shape), {}
    if kind == "structure":
        which = draw(st.sampled_from(["col", "negcol", "hugecol", "backwards", "ptrlen", "ptrend"]))
        ind, ptr = ind.copy(), ptr.copy()
        if which in ("col", "negcol", "hugecol") and len(ind):
            ind[draw(st.integers(0, len(ind) - 1))] = {
                "col": n,
                "negcol": -1,
                "hugecol": 2**31 - 1,
            }[which]
        elif which == "backwards" and n >= 2:
            ptr[1] = ptr[-1]
            ptr[2:] = 0 if len(ptr) > 2 else ptr[2:]
        elif which == "ptrlen":
            ptr = ptr[:-1]
        else:
            ptr[-1] = ptr[-1] + 5
        return sparse("csr", data, ind, ptr, shape), {}
    if kind == "shape":
        return draw(
            st.sampled_from(
                [
                    arr(np.ones((3, 4))),
                    arr(np.ones(3)),
                    arr(np.ones((0, 0))),
                    sparse("csr", [], [], [0], (0, 0)),
                    sparse("csr", [1.0], [0], [0, 1, 1], (2, 3)),
                    arr(np.ones((2, 2), dtype=complex)),
                    arr(np.array([["a", "b"], ["c", "d"]])),
                ]
            )
        ), {}
    raise ValueError(kind)


GRAPH_KINDS = ("valid", "long", "weights", "structure", "shape")


# ---------------------------------------------------------------- files


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def npy_with_header(header, data=b"", version=(1, 0), length=None):
    """A .npy file with an arbitrary header dict text (and header-length field)."""
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64 if version == (1, 0) else 64 - (12 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    if version == (1, 0):
        hl = struct.pack("<H", (len(h) if length is None else length) & 0xFFFF)
    else:
        hl = struct.pack("<I", (len(h) if length is None else length) & 0xFFFFFFFF)
    return b"\x93NUMPY" + bytes(version) + hl + h + data


@st.composite
def npy_files(draw, kind):
    """(payload bytes, info) for a .npy file; info["array"] is what a valid file holds."""
    X = draw(moderate(n=(3, 8), d=(2, 4)))
    if kind == "valid":
        order = draw(st.sampled_from(["c", "f", "big"]))
        Y = np.asfortranarray(X) if order == "f" else X
        if order == "big":
            Y = X.astype(X.dtype.newbyteorder(">"))
        return npy_bytes(Y), {"array": X}
    raw = npy_bytes(X)
    choice = draw(
        st.sampled_from(
            ["wrap", "huge", "truncated", "pickle", "headerlen", "garbage", "descr", "empty"]
        )
    )
    descr = np.lib.format.dtype_to_descr(X.dtype)
    if choice == "wrap":  # the product of the shape wraps int64 to a small number
        shape = draw(st.sampled_from([(2**32, 2**32), (2**62, 4), (2**63 - 1, 3), (-1, 4)]))
        return npy_with_header(
            str({"descr": descr, "fortran_order": False, "shape": shape}), b""
        ), {}
    if choice == "huge":
        return npy_with_header(
            str({"descr": descr, "fortran_order": False, "shape": (10**9, 10**3)}), b"\0" * 64
        ), {}
    if choice == "truncated":
        return raw[: len(raw) - draw(st.integers(1, X.nbytes))], {}
    if choice == "pickle":
        o = np.empty(2, dtype=object)
        o[0], o[1] = {"a": 1}, [1, 2]
        return npy_bytes(o), {}
    if choice == "headerlen":
        return npy_with_header(
            str({"descr": descr, "fortran_order": False, "shape": X.shape}),
            X.tobytes(),
            version=(2, 0),
            length=2**32 - 1,
        ), {}
    if choice == "garbage":
        return draw(st.sampled_from([b"", b"\x93NUMPY", b"hello world" * 10, b"\x93NUMPY\x01"])), {}
    if choice == "descr":
        d = draw(st.sampled_from(["|O", "<c16", "|V8", "<U4", "xyz", "<f2"]))
        return npy_with_header(
            str({"descr": d, "fortran_order": False, "shape": (2, 2)}), b"\0" * 64
        ), {}
    return npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }"), {}


NPY_KINDS = ("valid", "bad")


@st.composite
def npz_files(draw, kind):
    X = draw(moderate(n=(3, 8), d=(2, 4)))
    buf = io.BytesIO()
    if kind == "valid":
        np.savez(buf, W=X, other=np.arange(3))
        return buf.getvalue(), {"array": X}
    choice = draw(st.sampled_from(["member", "notzip", "empty", "badmember", "pickle"]))
    if choice == "notzip":
        return b"PK\x03\x04 not really a zip", {}
    with zipfile.ZipFile(buf, "w") as z:
        if choice == "member":
            z.writestr(
                "W.npy",
                npy_with_header(
                    str({"descr": "<f8", "fortran_order": False, "shape": (2**40, 2**20)})
                ),
            )
        elif choice == "badmember":
            z.writestr("W.npy", b"not an npy file")
        elif choice == "pickle":
            o = np.empty(1, dtype=object)
            o[0] = {"x": 1}
            z.writestr("W.npy", npy_bytes(o))
    return buf.getvalue(), {}


def safetensors_bytes(header, data=b"", length=None):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(h) if length is None else length) + h + data


@st.composite
def safetensors_files(draw, kind):
    X = draw(moderate(n=(3, 8), d=(2, 4), dtype=np.float32))
    data = X.tobytes()
    good = {
        "lm_head.weight": {"dtype": "F32", "shape": list(X.shape), "data_offsets": [0, len(data)]}
    }
    if kind == "valid":
        return safetensors_bytes(dict(good, __metadata__={"format": "pt"}), data), {"array": X}
    choice = draw(
        st.sampled_from(
            ["len63", "lenbig", "json", "offsets", "reversed", "mismatch", "dtype", "shape", "meta"]
        )
    )
    t = dict(good["lm_head.weight"])
    if choice == "len63":
        return safetensors_bytes(good, data, length=2**63), {}
    if choice == "lenbig":
        return safetensors_bytes(good, data, length=len(data) + 10**6), {}
    if choice == "json":
        return safetensors_bytes(b'{"lm_head.weight": {"dtype": "F32", ', data), {}
    if choice == "offsets":
        t["data_offsets"] = [0, 2**62]
    elif choice == "reversed":
        t["data_offsets"] = [len(data), 0]
    elif choice == "mismatch":
        t["shape"] = [X.shape[0] + 1, X.shape[1]]
    elif choice == "dtype":
        t["dtype"] = draw(st.sampled_from(["Q7", "F64", "BOOL", 3]))
    elif choice == "shape":
        t["shape"] = draw(st.sampled_from([[2**40, 2**40], [-1, 3], "x", [3.5]]))
    else:
        return safetensors_bytes({"__metadata__": {"a": 1}}, b""), {}
    return safetensors_bytes({"lm_head.weight": t}, data), {}
