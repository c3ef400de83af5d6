"""The one hardened reader of .npy, .npz and .safetensors files (latentgeo._readers): hostile
headers are refused with a message naming the file, before anything is allocated (issue 13)."""

import io
import json
import struct
import zipfile

import numpy as np
import pytest

import latentgeo
from latentgeo._readers import npy_info, npz_info, read_array, read_npy, read_npz


def npy_bytes(header: str, data: bytes = b"", version=(1, 0)) -> bytes:
    """A .npy file with a hand-written header dict (padded as numpy pads it)."""
    h = header.encode("latin1")
    pre = 10 if version == (1, 0) else 12
    h += b" " * ((-(pre + len(h) + 1)) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version == (1, 0) else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + size + h + data


def header(shape, descr="<f8"):
    return str({"descr": descr, "fortran_order": False, "shape": shape})


@pytest.mark.parametrize(
    "raw, match",
    [
        (npy_bytes(header((2**32, 2**32))), "truncated or corrupt"),  # product wraps int64 to 0
        (npy_bytes(header((2**62, 4))), "truncated or corrupt"),
        (npy_bytes(header((2**63 - 1, 3))), "truncated or corrupt"),
        (npy_bytes(header((-1, 4))), "not a valid .npy file"),
        (npy_bytes(header((3, 2)), b"\x00" * 40), "truncated or corrupt"),  # 48 bytes needed
        (npy_bytes(header((2,), "|O")), "Python objects"),
        (npy_bytes("{'descr': '<f8', 'shape': (2,)}"), "not a valid .npy file"),
        (npy_bytes("__import__('os').system('echo pwned')"), "not a valid .npy file"),
        (b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{", "not a valid .npy file"),
        (b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b"{", "not a valid .npy file"),
        (b"\x93NUMPY\x07\x00", "not a valid .npy file"),
        (b"not an array at all", "not a valid .npy file"),
        (b"", "not a valid .npy file"),
    ],
)
def test_hostile_npy_is_refused(tmp_path, raw, match):
    path = tmp_path / "x.npy"
    path.write_bytes(raw)
    for fn in (read_npy, npy_info):
        with pytest.raises(ValueError, match=match) as e:
            fn(path)
        assert str(path) in str(e.value)
    with pytest.raises(ValueError, match="cannot read"):
        latentgeo.load_weights(path)


def test_valid_npy_round_trips_memory_mapped(tmp_path):
    for arr in (np.arange(12.0).reshape(3, 4), np.ones((2, 3), np.float32, order="F"),
                np.zeros((0, 5)), np.arange(4, dtype=">f8")):  # fmt: skip
        path = tmp_path / "x.npy"
        np.save(path, arr)
        got = read_npy(path)
        np.testing.assert_array_equal(got, arr)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert npy_info(path) == (str(arr.dtype), arr.shape)
        if arr.size:
            assert isinstance(got, np.memmap) and not got.flags.writeable


def npz_bytes(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in members.items():
            z.writestr(name + ".npy", raw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "members, match",
    [
        ({"W": npy_bytes(header((2**40, 2**20)))}, "truncated or corrupt"),
        ({"W": npy_bytes(header((2**32, 2**32)))}, "truncated or corrupt"),
        ({"W": npy_bytes(header((4,), "|O"), b"\x00" * 32)}, "Python objects"),
        ({"W": b"garbage"}, "not a valid .npy file"),
    ],
)
def test_hostile_npz_members_are_refused(tmp_path, members, match):
    path = tmp_path / "x.npz"
    path.write_bytes(npz_bytes(members))
    with pytest.raises(ValueError, match=match):
        npz_info(path)
    with pytest.raises(ValueError, match=match):
        read_npz(path, "W")


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(ValueError, match="not a valid .npz file"):
        read_array(path)


def test_read_array_tells_the_format_by_content(tmp_path):
    X = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", X=X, Y=X + 1)
    (tmp_path / "a.npy").rename(tmp_path / "a.bin")
    arr, name, key = read_array(tmp_path / "a.bin")
    np.testing.assert_array_equal(arr, X)
    assert key is None
    arr, name, key = read_array(tmp_path / "b.npz", "Y")
    np.testing.assert_array_equal(arr, X + 1)
    assert name.endswith("[Y]")
    with pytest.raises(ValueError, match="choose one with --key"):
        read_array(tmp_path / "b.npz")
    with pytest.raises(ValueError, match="has no array 'Z'"):
        read_array(tmp_path / "b.npz", "Z")
    with pytest.raises(ValueError, match="--key applies only to .npz"):
        read_array(tmp_path / "a.bin", "X")


def st_bytes(head: dict, data: bytes = b"", length=None) -> bytes:
    h = json.dumps(head).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


@pytest.mark.parametrize(
    "raw, match",
    [
        (st_bytes({"w": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}),
         "need"),  # the product does not wrap: 2**64 elements need 2**66 bytes
        (st_bytes({}, b"", length=2**63), "header length"),
        (st_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 4),
         "beyond"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00[", "not valid JSON"),
        (st_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})[:-3], "corrupt"),
    ],
)  # fmt: skip
def test_hostile_safetensors_are_refused(tmp_path, raw, match):
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=match):
        latentgeo.list_tensors(path)
