"""One hardened reader for the array files latentgeo accepts: ``.npy``, ``.npz`` and
``.safetensors``.

Every header is parsed with checked arithmetic (Python integers, so no shape product can wrap)
and the size it declares is compared with the bytes really there before anything is allocated;
pickled objects are never loaded. A file that fails a check raises ValueError naming the file and
what is wrong ("not a valid .npy file", "truncated or corrupt"). ``.npy`` data and float tensors
of safetensors files are memory-mapped read-only; ``.npz`` members are read (zip members cannot be
mapped) after their declared size has been checked against the member's stored size.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

Shape = Tuple[int, ...]

#: numpy's own limit on a .npy header (``np.load``'s default ``max_header_size``).
NPY_MAX_HEADER = 10_000
#: The safetensors format caps the header at 100 MB; a larger length means a corrupt file.
SAFETENSORS_MAX_HEADER = 100_000_000
# Deflate cannot expand data more than about 1032:1; a member declaring more is corrupt.
_ZIP_MAX_RATIO = 1100

# Bytes per element of every safetensors dtype, to validate the data offsets of any tensor.
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip
#: safetensors dtypes that latentgeo reads, with their little-endian storage type.
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- .npy -----------------------------------------------------------------------------------


def _npy_header(fp, where: str) -> Tuple[Shape, bool, np.dtype, int]:
    """(shape, fortran_order, dtype, bytes of data) from the header at the start of `fp`."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, NPY_MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, NPY_MAX_HEADER)
        else:
            raise ValueError(f"unsupported format version {version}")
    except Exception as exc:  # numpy raises ValueError, SyntaxError, EOFError, ...
        raise ValueError(f"cannot read {where}: not a valid .npy file ({exc})") from None
    if dtype.hasobject:
        raise ValueError(
            f"cannot read {where}: it holds Python objects (a pickle), which latentgeo never loads"
        )
    if not all(_is_count(s) for s in shape):
        raise ValueError(f"cannot read {where}: not a valid .npy file (invalid shape {shape})")
    return tuple(shape), bool(fortran), dtype, math.prod(shape) * dtype.itemsize


def _truncated(where: str, shape, dtype, need: int, have: int) -> ValueError:
    return ValueError(
        f"cannot read {where}: truncated or corrupt: its header declares shape {list(shape)} of "
        f"{dtype} "
        f"({need} bytes) but {max(have, 0)} bytes of data follow"
    )


def npy_info(path: Path) -> Tuple[str, Shape]:
    """(dtype name, shape) of a .npy file, checked, without reading its data."""
    with open(path, "rb") as fp:
        shape, _, dtype, need = _npy_header(fp, str(path))
        have = path.stat().st_size - fp.tell()
    if need > have:
        raise _truncated(str(path), shape, dtype, need, have)
    return str(dtype), shape


def read_npy(path: Path) -> np.ndarray:
    """The array of a .npy file, memory-mapped read-only (a plain empty array when empty)."""
    with open(path, "rb") as fp:
        shape, fortran, dtype, need = _npy_header(fp, str(path))
        offset = fp.tell()
    have = path.stat().st_size - offset
    if need > have:
        raise _truncated(str(path), shape, dtype, need, have)
    if need == 0:
        return np.zeros(shape, dtype=dtype)
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


# --- .npz -----------------------------------------------------------------------------------


def _npz_members(zf: zipfile.ZipFile) -> Dict[str, zipfile.ZipInfo]:
    return {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: not a valid .npz file ({exc})") from None


def _member_header(zf, info, where: str):
    """Header of one member, checked against the member's stored sizes."""
    try:
        with zf.open(info) as fp:
            shape, fortran, dtype, need = _npy_header(fp, where)
            offset = fp.tell()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ValueError(f"cannot read {where}: not a valid .npz member ({exc})") from None
    have = info.file_size - offset
    if need > have or need > _ZIP_MAX_RATIO * info.compress_size + 4096:
        raise _truncated(where, shape, dtype, need, min(have, _ZIP_MAX_RATIO * info.compress_size))
    return shape, fortran, dtype, need, offset


def npz_info(path: Path) -> Dict[str, Tuple[str, Shape]]:
    """``name -> (dtype name, shape)`` of the arrays of an .npz file, checked, not read."""
    with _open_zip(path) as zf:
        out = {}
        for name, info in _npz_members(zf).items():
            shape, _, dtype, _, _ = _member_header(zf, info, f"{path}[{name}]")
            out[name] = (str(dtype), shape)
        return out


def read_npz(path: Path, name: str) -> np.ndarray:
    """Array `name` of an .npz file (KeyError if there is none)."""
    with _open_zip(path) as zf:
        info = _npz_members(zf)[name]
        where = f"{path}[{name}]"
        shape, fortran, dtype, need, offset = _member_header(zf, info, where)
        try:
            with zf.open(info) as fp:
                fp.read(offset)
                data = fp.read(need)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"cannot read {where}: not a valid .npz member ({exc})") from None
    if len(data) != need:
        raise _truncated(where, shape, dtype, need, len(data))
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


# --- .safetensors ---------------------------------------------------------------------------


class SafetensorsFile:
    """The parsed and validated header of a safetensors file: an 8-byte little-endian header
    length N, N bytes of JSON (``name -> {"dtype", "shape", "data_offsets": [begin, end]}``,
    offsets relative to the first byte after the header, plus an optional ``"__metadata__"``),
    then the little-endian row-major data."""

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
            if n > SAFETENSORS_MAX_HEADER:
                raise ValueError(f"{path} is corrupt: header length {n} exceeds 100 MB")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
        if dtype in SAFETENSORS_ITEMSIZE:
            expected = SAFETENSORS_ITEMSIZE[dtype] * math.prod(shape)  # Python ints: no wrap
            if end - begin != expected:
                raise bad(
                    f"has {end - begin} data bytes, but dtype {dtype} and shape "
                    f"{list(shape)} need {expected}"
                )
        return dtype, shape, begin, end

    def read(self, name: str) -> np.ndarray:
        """Tensor `name` as stored (BF16 as uint16 bits), memory-mapped when non-empty."""
        dtype, shape, begin, end = self.tensors[name]
        if dtype not in SAFETENSORS_DTYPES:
            raise TypeError(
                f"tensor {name!r} of {self.path} has the unsupported dtype {dtype}; supported: "
                f"{', '.join(SAFETENSORS_DTYPES)}"
            )
        storage = np.dtype(SAFETENSORS_DTYPES[dtype])
        if end == begin:
            return np.zeros(shape, dtype=storage)
        mm = np.memmap(self.path, dtype=storage, mode="r", offset=self.data_start + begin,
                       shape=shape)  # fmt: skip
        return np.asarray(mm)


# --- either numpy format, by content ----------------------------------------------------------


def read_array(path: Path, key=None) -> Tuple[np.ndarray, str, str]:
    """(array, its name for messages, key) of a .npy file, or of member `key` of an .npz file
    (which may be omitted when it holds one array); the format is told by the file's content.
    ValueError for anything else, naming the file."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):
        names = list(npz_info(path))
        if key is None:
            if len(names) != 1:
                raise ValueError(f"{path} holds the arrays {names}; choose one with --key")
            key = names[0]
        elif key not in names:
            raise ValueError(f"{path} has no array {key!r}; it holds {names}")
        return read_npz(path, key), f"{path}[{key}]", key
    if key is not None:
        raise ValueError("--key applies only to .npz files")
    return read_npy(path), str(path), None
