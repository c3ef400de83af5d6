"""Read softmax weights (and biases) from ``.npy``, ``.npz`` and ``.safetensors`` files.

No torch and no ``safetensors`` package is needed: the safetensors format is simple enough to
read directly. A safetensors file is an 8-byte little-endian unsigned header length N, then N
bytes of JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets relative to the first byte after the header), plus an optional ``"__metadata__"``
entry; the tensor data are little-endian and row-major.

float32 and float64 tensors are memory-mapped, not read; float16 and bfloat16 tensors are
widened to float32, which is exact.
"""

from __future__ import annotations

import difflib
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple, Union

import numpy as np

#: safetensors dtypes that :func:`load_weights` reads, with their little-endian storage type.
SUPPORTED_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}


# Bytes per element of every safetensors dtype, to validate the data offsets of any tensor.
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip


#: The safetensors format caps the header at 100 MB; a larger length means a corrupt file.
MAX_HEADER_BYTES = 100_000_000


_EXTENSIONS = (".npy", ".npz", ".safetensors")


# Tensor names listed in full in an error message; longer lists are cut.
_MAX_NAMES_SHOWN = 20


Shape = Tuple[int, ...]


def _check_path(path) -> Tuple[Path, str]:
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory, not a weight file")
    ext = p.suffix.lower()
    if ext not in _EXTENSIONS:
        raise ValueError(
            f"unknown file extension {p.suffix or '(none)'!r} of {p}; expected one of "
            f"{', '.join(_EXTENSIONS)}"
        )
    return p, ext


class _SafetensorsHeader:
    """The parsed and validated header of a safetensors file."""

    def __init__(self, path: Path):
        self.path = path
        size = path.stat().st_size
        if size < 8:
            raise ValueError(
                f"{path} is not a valid safetensors file: {size} bytes, fewer than the 8-byte "
                "header length"
            )
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise ValueError(
                    f"{path} is truncated or corrupt: its header length {n} exceeds the "
                    f"{size - 8} bytes after the length field"
                )
            if n > MAX_HEADER_BYTES:
                raise ValueError(f"{path} is corrupt: header length {n} exceeds 100 MB")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is corrupt: its header is not valid JSON ({exc})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path} is corrupt: its header is not a JSON object")
        self.data_start = 8 + n
        self.data_size = size - 8 - n
        self.metadata = header.pop("__metadata__", None)
        self.tensors: Dict[str, Tuple[str, Shape, int, int]] = {}
        for name, entry in header.items():
            self.tensors[name] = self._entry(name, entry)

    def _entry(self, name: str, entry) -> Tuple[str, Shape, int, int]:
        def bad(what: str) -> ValueError:
            return ValueError(f"{self.path} is corrupt: tensor {name!r} {what}")

        if not isinstance(entry, dict):
            raise bad("has no dtype/shape/data_offsets entry")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str):
            raise bad(f"has an invalid dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
            raise bad(f"has an invalid shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise bad(f"has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if end > self.data_size:
            raise bad(
                f"has data_offsets [{begin}, {end}] beyond the {self.data_size} data bytes of "
                "the file (truncated?)"
            )
        shape = tuple(shape)
        if dtype in _ITEMSIZE:
            expected = _ITEMSIZE[dtype] * int(np.prod(shape, dtype=np.int64))
            if end - begin != expected:
                raise bad(
                    f"has {end - begin} data bytes, but dtype {dtype} and shape "
                    f"{list(shape)} need {expected}"
                )
        return dtype, shape, begin, end

    def read(self, name: str) -> np.ndarray:
        """Tensor `name` as stored (BF16 as uint16 bits), memory-mapped when non-empty."""
        dtype, shape, begin, end = self.tensors[name]
        if dtype not in SUPPORTED_DTYPES:
            raise TypeError(
                f"tensor {name!r} of {self.path} has the unsupported dtype {dtype}; supported: "
                f"{', '.join(SUPPORTED_DTYPES)}"
            )
        storage = np.dtype(SUPPORTED_DTYPES[dtype])
        if end == begin:
            return np.zeros(shape, dtype=storage)
        mm = np.memmap(self.path, dtype=storage, mode="r", offset=self.data_start + begin,
                       shape=shape)  # fmt: skip
        return np.asarray(mm)


def _is_float(dt: np.dtype) -> bool:
    """float16, float32 or float64 in either byte order."""
    return dt.kind == "f" and dt.itemsize in (2, 4, 8)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """Widen bfloat16 values, given as their uint16 bit patterns, to float32 (exact).

    Parameters
    ----------
    bits : ndarray of uint16
        bfloat16 bit patterns (the upper half of the float32 bit patterns).

    Returns
    -------
    ndarray of float32
        Same shape; every value, NaN payloads included, is represented exactly.
    """
    bits = np.asarray(bits)
    if bits.dtype.kind != "u" or bits.dtype.itemsize != 2:
        raise TypeError(f"bfloat16 bits must be uint16, got {bits.dtype}")
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 (round to nearest, ties to even); the uint16 bits.

    NaNs stay (quiet) NaNs of the same sign; values beyond the bfloat16 range become infinite.
    """
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> 16
    nan = np.isnan(np.ascontiguousarray(x, dtype=np.float32))
    rounded = np.where(nan, (bits >> np.uint32(16)) | np.uint32(0x0040), rounded)
    return rounded.astype(np.uint16)


def _npz_headers(path: Path) -> Dict[str, Tuple[str, Shape]]:
    out: Dict[str, Tuple[str, Shape]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                with zf.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:  # version 3.0 (rare): load the array itself
                        arr = np.load(path, allow_pickle=False)[member[:-4]]
                        shape, dtype = arr.shape, arr.dtype
                out[member[:-4]] = (str(dtype), tuple(int(s) for s in shape))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path} as an .npz file ({exc})") from None
    return out


def _npy_header(path: Path) -> Tuple[str, Shape]:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path} as an .npy file ({exc})") from None
    return str(arr.dtype), tuple(arr.shape)


def list_tensors(path) -> Dict[str, Tuple[str, Shape]]:
    """The tensors stored in a weight file, without reading their data.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, ``.npz`` or ``.safetensors`` file.

    Returns
    -------
    dict
        ``name -> (dtype, shape)``, in file order. The dtype is written as the file stores it:
        safetensors names (``"F32"``, ``"BF16"``, ...) or numpy names (``"float32"``). A
        ``.npy`` file holds one unnamed array, listed under the name ``""``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the extension is not one of the three, or the file is truncated or corrupt.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from latentgeo.unargmax import save_safetensors, list_tensors
    >>> path = os.path.join(tempfile.mkdtemp(), "head.safetensors")
    >>> save_safetensors(path, {"lm_head.weight": np.zeros((5, 3), np.float32)})
    >>> list_tensors(path)
    {'lm_head.weight': ('F32', (5, 3))}
    """
    p, ext = _check_path(path)
    if ext == ".npy":
        return {"": _npy_header(p)}
    if ext == ".npz":
        return _npz_headers(p)
    header = _SafetensorsHeader(p)
    return {name: (dtype, shape) for name, (dtype, shape, _, _) in header.tensors.items()}


def _unknown_name(path: Path, what: str, name: str, names: Iterable[str]) -> ValueError:
    names = list(names)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    if len(names) <= _MAX_NAMES_SHOWN:
        shown = ", ".join(repr(n) for n in names) or "none"
    else:
        shown = ", ".join(repr(n) for n in names[:_MAX_NAMES_SHOWN])
        shown += f", ... ({len(names)} in all)"
    return ValueError(f"{path} has no {what} {name!r}{hint} (available: {shown})")


def _widen(arr: np.ndarray, stored: str, name: str, dtype: Optional[np.dtype]) -> np.ndarray:
    """float32/float64 view or copy of a stored tensor (BF16 given as uint16 bits)."""
    if stored == "BF16":
        arr = bfloat16_to_float32(arr)
    elif not _is_float(arr.dtype):
        raise TypeError(
            f"{name} has the unsupported dtype {stored}; supported: float16, float32, "
            "float64 and (safetensors) BF16"
        )
    elif arr.dtype.itemsize == 2:
        arr = arr.astype(np.float32)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    if not arr.dtype.isnative:  # a big-endian .npy file
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.aligned:  # a safetensors tensor at an odd offset
        arr = arr.copy()
    return arr


def load_weights(
    path,
    weight: Optional[str] = None,
    bias: Optional[str] = None,
    *,
    dtype=None,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Read a softmax weight matrix W (V, d) and optionally its bias b (V,) from a file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file (the matrix itself), an ``.npz`` file or a ``.safetensors`` file.
    weight : str, optional
        Name of the weight tensor in an ``.npz`` or ``.safetensors`` file, e.g.
        ``"lm_head.weight"``. May be omitted when the file holds exactly one tensor. Not
        allowed for ``.npy`` files.
    bias : str, optional
        Name of the bias tensor; without it no bias is read. Not allowed for ``.npy`` files.
    dtype : {None, numpy.float32, numpy.float64}, optional
        Result dtype. By default float64 stays float64 and everything else (float32, float16,
        bfloat16) becomes float32; both conversions are exact.

    Returns
    -------
    W : ndarray, shape (V, d)
        Read-only and memory-mapped where no conversion is needed (float32/float64 in a
        ``.npy`` or ``.safetensors`` file). Values are not checked for NaN or infinity here;
        :func:`latentgeo.unargmaxable` does that.
    b : ndarray, shape (V,), or None
        The bias, or None when `bias` is not given.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Unknown file extension; unknown tensor name (the message lists the available names and
        the closest matches); no name given but several tensors stored; W not 2-D; b not 1-D;
        len(b) != V; truncated or corrupt file (bad header length, bad JSON, data offsets out
        of range or inconsistent with dtype and shape).
    TypeError
        If a tensor's dtype is not float16, bfloat16, float32 or float64, or `dtype` is not
        float32 or float64.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from latentgeo.unargmax import save_safetensors, load_weights
    >>> path = os.path.join(tempfile.mkdtemp(), "head.safetensors")
    >>> W0 = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> save_safetensors(path, {"w": W0, "b": np.ones(3, np.float16)})
    >>> W, b = load_weights(path, "w", "b")
    >>> W.shape, W.dtype.name, b.dtype.name, b.tolist()
    ((3, 2), 'float32', 'float32', [1.0, 1.0, 1.0])
    """
    p, ext = _check_path(path)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32, float64 or None, got {dtype}")
    for value, what in ((weight, "weight"), (bias, "bias")):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what} must be a tensor name (str), got {value!r}")

    if ext == ".npy":
        if weight is not None or bias is not None:
            raise ValueError(
                f"{p} is a .npy file: it holds one unnamed array, so tensor names "
                "(weight, bias) do not apply"
            )
        try:
            raw = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"cannot read {p} as an .npy file ({exc})") from None
        W = _widen(np.asarray(raw), str(raw.dtype), str(p), dtype)
        return _check_shapes(p, W, None, "the array", None)

    if ext == ".npz":
        headers = _npz_headers(p)

        def read(name):
            try:
                with np.load(p, allow_pickle=False) as z:
                    return z[name]
            except ValueError as exc:  # object arrays
                raise TypeError(f"cannot read array {name!r} of {p} ({exc})") from None

        what = "array"
    else:
        header = _SafetensorsHeader(p)
        headers = {n: (t[0], t[1]) for n, t in header.tensors.items()}
        read = header.read
        what = "tensor"

    if weight is None:
        if len(headers) != 1:
            two_d = [f"{n!r} {list(s)}" for n, (_, s) in headers.items() if len(s) == 2]
            listed = f"; the 2-D ones: {', '.join(two_d[:_MAX_NAMES_SHOWN])}" if two_d else ""
            raise ValueError(f"{p} holds {len(headers)} {what}s; choose the weight by name{listed}")
        weight = next(iter(headers))
    for name in (weight, bias):
        if name is not None and name not in headers:
            raise _unknown_name(p, what, name, headers)
    W = _widen(read(weight), headers[weight][0], f"{what} {weight!r} of {p}", dtype)
    b = None
    if bias is not None:
        b = _widen(read(bias), headers[bias][0], f"{what} {bias!r} of {p}", dtype)
    return _check_shapes(p, W, b, f"{what} {weight!r}", bias and f"{what} {bias!r}")


def _check_shapes(p, W, b, wname, bname):
    if W.ndim != 2:
        raise ValueError(
            f"the weight ({wname} of {p}) must be 2-D with shape (V, d), got {W.ndim}-D with "
            f"shape {W.shape}"
        )
    if b is not None:
        if b.ndim != 1:
            raise ValueError(
                f"the bias ({bname} of {p}) must be 1-D with shape (V,), got {b.ndim}-D with "
                f"shape {b.shape}"
            )
        if b.shape[0] != W.shape[0]:
            raise ValueError(
                f"shape mismatch: the weight ({wname}) has {W.shape[0]} rows (shape "
                f"{W.shape}) but the bias ({bname}) has length {b.shape[0]}"
            )
    return W, b


def save_safetensors(
    path,
    tensors: Dict[str, np.ndarray],
    *,
    bfloat16: Union[bool, Iterable[str]] = False,
    metadata: Optional[Dict[str, str]] = None,
) -> None:
    """Write arrays to a ``.safetensors`` file (for tests and examples).

    Parameters
    ----------
    path : str or path-like
        Output file.
    tensors : dict of str -> ndarray
        float16 (F16), float32 (F32), float64 (F64) arrays, or uint16 arrays holding bfloat16
        bit patterns (BF16).
    bfloat16 : bool or iterable of str, optional
        Store these float arrays (all if True) as BF16, rounding float32 values to nearest,
        ties to even.
    metadata : dict of str -> str, optional
        Stored as ``"__metadata__"``.

    Notes
    -----
    Tensors are stored back to back, larger item sizes first, so every tensor is aligned to
    its item size; the header JSON is padded with spaces to a multiple of 8 bytes.
    """
    if not isinstance(tensors, dict):
        raise TypeError("tensors must be a dict of name -> array")
    as_bf16 = set(tensors) if bfloat16 is True else set(bfloat16 or ())
    entries = []
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        arr = np.asarray(value)
        if name in as_bf16:
            if not _is_float(arr.dtype):
                raise TypeError(f"tensor {name!r}: only float arrays can be stored as BF16")
            arr, code = float32_to_bfloat16(arr.astype(np.float32)), "BF16"
        elif arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
            code = "BF16"
        elif _is_float(arr.dtype):
            code = {2: "F16", 4: "F32", 8: "F64"}[arr.dtype.itemsize]
        else:
            raise TypeError(f"tensor {name!r}: unsupported dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        entries.append((name, code, arr))
    entries.sort(key=lambda e: (-e[2].dtype.itemsize, e[0]))
    header: Dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, code, arr in entries:
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}  # fmt: skip
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(os.fspath(path), "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, _, arr in entries:
            f.write(arr.tobytes())
