"""Tests for latentgeo.weights: .npy / .npz / .safetensors readers and the safetensors writer."""

import json
import struct

import numpy as np
import pytest

import latentgeo
from latentgeo.unargmax import list_tensors, load_weights, save_safetensors
from latentgeo.unargmax._weights import bfloat16_to_float32, float32_to_bfloat16

RNG = np.random.default_rng(0)
W32 = RNG.standard_normal((7, 3)).astype(np.float32)
B32 = RNG.standard_normal(7).astype(np.float32)


def safetensors_bytes(entries, data, metadata=None, pad=True):
    """A safetensors file built by hand: entries name -> (dtype, shape, [begin, end])."""
    header = {name: {"dtype": t, "shape": list(s), "data_offsets": list(o)}
              for name, (t, s, o) in entries.items()}  # fmt: skip
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def bf16_truncate(x):
    """bfloat16 bits of float32 values by truncation, and the float32 values they stand for."""
    bits = (np.ascontiguousarray(x, np.float32).view(np.uint32) >> 16).astype(np.uint16)
    values = (np.ascontiguousarray(x, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    return bits, values


def test_exported():
    assert latentgeo.load_weights is load_weights
    assert latentgeo.list_tensors is list_tensors


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored, expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32)],
)
def test_safetensors_round_trip(tmp_path, stored, expected):
    W, b = W32.astype(stored), B32.astype(stored)
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"head.weight": W, "head.bias": b})
    code = {np.float16: "F16", np.float32: "F32", np.float64: "F64"}[stored]
    assert list_tensors(path) == {"head.weight": (code, (7, 3)), "head.bias": (code, (7,))}
    W2, b2 = load_weights(path, "head.weight", "head.bias")
    assert W2.dtype == expected and b2.dtype == expected
    np.testing.assert_array_equal(W2, W.astype(expected))
    np.testing.assert_array_equal(b2, b.astype(expected))
    W3, b3 = load_weights(path, "head.weight", dtype=np.float64)
    assert b3 is None and W3.dtype == np.float64
    np.testing.assert_array_equal(W3, W.astype(np.float64))


def test_safetensors_f32_is_memory_mapped_and_read_only(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"w": W32})
    W, _ = load_weights(path)
    assert isinstance(W.base, np.memmap) or isinstance(W.base.base, np.memmap)
    assert not W.flags.writeable and W.flags.c_contiguous


def test_bfloat16_exact(tmp_path):
    x = np.concatenate([W32.ravel(), [0.0, -0.0, 1.0, -2.5, 3.0e38, 1e-40, np.inf, -np.inf]])
    x = x.astype(np.float32)
    bits, values = bf16_truncate(x)
    np.testing.assert_array_equal(bfloat16_to_float32(bits), values)
    path = tmp_path / "bf.safetensors"
    save_safetensors(path, {"w": bits[:21].reshape(7, 3), "b": bits[21:28]})
    assert list_tensors(path) == {"w": ("BF16", (7, 3)), "b": ("BF16", (7,))}
    W, b = load_weights(path, "w", "b")
    assert W.dtype == np.float32 and b.dtype == np.float32
    # exact float32 values (compare bit patterns, so -0.0 and inf count too)
    np.testing.assert_array_equal(W.view(np.uint32), values[:21].reshape(7, 3).view(np.uint32))
    np.testing.assert_array_equal(b.view(np.uint32), values[21:28].view(np.uint32))
    W64, _ = load_weights(path, "w", dtype="float64")
    np.testing.assert_array_equal(W64, values[:21].reshape(7, 3).astype(np.float64))


def test_bfloat16_flag_rounds_to_nearest_even(tmp_path):
    x = np.array(
        [1.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1.0 + 2.0**-8 + 2.0**-12, -3.0, np.nan, 3.4e38],
        dtype=np.float32,
    )  # bfloat16 has 7 mantissa bits: its spacing at 1.0 is 2**-7
    expected = np.array(
        [1.0, 1.0, 1.0 + 2.0**-6, 1.0 + 2.0**-7, -3.0, np.nan, np.inf], dtype=np.float32
    )
    bits = float32_to_bfloat16(x)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bfloat16_to_float32(bits), expected)
    path = tmp_path / "bf.safetensors"
    save_safetensors(path, {"w": x.reshape(7, 1), "f": np.ones(2)}, bfloat16=["w"])
    assert list_tensors(path) == {"f": ("F64", (2,)), "w": ("BF16", (7, 1))}
    np.testing.assert_array_equal(load_weights(path, "w")[0].ravel(), expected)
    save_safetensors(path, {"w": x.reshape(7, 1)}, bfloat16=True)
    assert list_tensors(path) == {"w": ("BF16", (7, 1))}


def test_hand_built_safetensors(tmp_path):
    # Independent of save_safetensors: an unpadded header, metadata, a BF16 bias, F16 weights
    # stored after the bias, and some unused trailing data bytes.
    W = np.array([[1.0, -2.0], [0.5, 4.0], [-1.5, 0.25]], dtype="<f2")
    b_bits = np.array([0x3F80, 0xC000, 0x4040], dtype="<u2")  # 1.0, -2.0, 3.0
    data = b_bits.tobytes() + W.tobytes() + b"\x00\x00"
    entries = {
        "lm.bias": ("BF16", (3,), (0, 6)),
        "lm.weight": ("F16", (3, 2), (6, 18)),
    }
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(safetensors_bytes(entries, data, metadata={"format": "pt"}, pad=False))
    assert list_tensors(path) == {"lm.bias": ("BF16", (3,)), "lm.weight": ("F16", (3, 2))}
    W2, b2 = load_weights(path, "lm.weight", "lm.bias")
    np.testing.assert_array_equal(W2, W.astype(np.float32))
    np.testing.assert_array_equal(b2, np.array([1.0, -2.0, 3.0], dtype=np.float32))
    # The weight starts at byte 8 + len(header) + 6: possibly unaligned, still read right.
    assert W2.dtype == np.float32


def test_hand_built_f32_unaligned(tmp_path):
    W = np.arange(12, dtype="<f4").reshape(4, 3)
    data = b"\x01" + W.tobytes()  # a U8 scalar first, so the F32 data sits at an odd offset
    entries = {"flag": ("U8", (), (0, 1)), "w": ("F32", (4, 3), (1, 49))}
    path = tmp_path / "odd.safetensors"
    path.write_bytes(safetensors_bytes(entries, data))
    W2, b2 = load_weights(path, "w")
    assert b2 is None and W2.flags.aligned
    np.testing.assert_array_equal(W2, W)


def test_writer_layout(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"a": np.ones(3, np.float16), "b": np.ones((2, 2))}, metadata={"k": 1})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and raw[8 + n - 1 : 8 + n].strip() in (b"}", b"")
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"] == {"k": "1"}
    assert header["b"] == {"dtype": "F64", "shape": [2, 2], "data_offsets": [0, 32]}
    assert header["a"] == {"dtype": "F16", "shape": [3], "data_offsets": [32, 38]}
    assert len(raw) == 8 + n + 38
    assert np.frombuffer(raw[8 + n : 8 + n + 32], "<f8").tolist() == [1.0] * 4


def test_big_endian_input_is_written_little_endian(tmp_path):
    path = tmp_path / "be.safetensors"
    save_safetensors(path, {"w": W32.astype(">f4")})
    np.testing.assert_array_equal(load_weights(path)[0], W32)


def test_npy(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, W32)
    assert list_tensors(path) == {"": ("float32", (7, 3))}
    W, b = load_weights(path)
    assert b is None and W.dtype == np.float32 and not W.flags.writeable
    np.testing.assert_array_equal(W, W32)
    np.save(path, W32.astype(np.float16))
    W, _ = load_weights(path)
    assert W.dtype == np.float32
    np.testing.assert_array_equal(W, W32.astype(np.float16).astype(np.float32))
    np.save(path, W32.astype(">f8"))
    W, _ = load_weights(path)
    assert W.dtype == np.float64 and W.dtype.isnative
    np.testing.assert_array_equal(W, W32.astype(np.float64))


def test_npz(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, W=W32, b=B32.astype(np.float64), extra=np.zeros((2, 5)))
    assert list_tensors(path) == {
        "W": ("float32", (7, 3)),
        "b": ("float64", (7,)),
        "extra": ("float64", (2, 5)),
    }
    W, b = load_weights(path, "W", "b")
    np.testing.assert_array_equal(W, W32)
    np.testing.assert_array_equal(b, B32.astype(np.float64))
    assert W.dtype == np.float32 and b.dtype == np.float64
    W, b = load_weights(path, "extra", dtype=np.float32)
    assert W.shape == (2, 5) and W.dtype == np.float32 and b is None
    one = tmp_path / "one.npz"
    np.savez_compressed(one, weights=W32.astype(np.float16))
    W, b = load_weights(one)
    assert W.dtype == np.float32 and b is None
    np.testing.assert_array_equal(W, W32.astype(np.float16).astype(np.float32))


def test_selection_by_name_among_many(tmp_path):
    path = tmp_path / "m.safetensors"
    tensors = {f"layer.{i}.weight": np.full((4, 2), i, np.float32) for i in range(30)}
    tensors["lm_head.weight"] = W32
    tensors["lm_head.bias"] = B32
    save_safetensors(path, tensors)
    W, b = load_weights(path, weight="lm_head.weight", bias="lm_head.bias")
    np.testing.assert_array_equal(W, W32)
    np.testing.assert_array_equal(b, B32)
    np.testing.assert_array_equal(load_weights(path, "layer.7.weight")[0], np.full((4, 2), 7))
    with pytest.raises(ValueError, match=r"no tensor 'lm_head\.weigth'.*'lm_head\.weight'") as e:
        load_weights(path, "lm_head.weigth")
    assert "32 in all" in str(e.value)
    with pytest.raises(ValueError, match="holds 32 tensors; choose the weight by name"):
        load_weights(path)


# --- errors -----------------------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_weights(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match=r"no such file: .*missing\.npy"):
        list_tensors(tmp_path / "missing.npy")
    with pytest.raises(IsADirectoryError, match="is a directory, not a weight file"):
        load_weights(tmp_path)


def test_unknown_extension(tmp_path):
    for name in ("model.bin", "model.pt", "model"):
        path = tmp_path / name
        path.write_bytes(b"\x00" * 16)
        with pytest.raises(ValueError, match="unknown file extension"):
            load_weights(path)
        with pytest.raises(ValueError, match="unknown file extension"):
            list_tensors(path)


def test_unknown_names(tmp_path):
    st = tmp_path / "m.safetensors"
    save_safetensors(st, {"w": W32, "b": B32})
    with pytest.raises(ValueError, match=r"no tensor 'bias' \(available: 'b', 'w'\)"):
        load_weights(st, "w", "bias")
    npz = tmp_path / "m.npz"
    np.savez(npz, w=W32)
    with pytest.raises(ValueError, match=r"no array 'W'.*'w'"):
        load_weights(npz, "W")
    npy = tmp_path / "m.npy"
    np.save(npy, W32)
    with pytest.raises(ValueError, match="names .* do not apply"):
        load_weights(npy, "w")
    with pytest.raises(ValueError, match="do not apply"):
        load_weights(npy, bias="b")
    with pytest.raises(TypeError, match="tensor name"):
        load_weights(st, 0)


@pytest.mark.parametrize("code", ["I32", "I64", "U8", "BOOL", "F8_E4M3", "C64"])
def test_unsupported_safetensors_dtype(tmp_path, code):
    size = {"I32": 4, "I64": 8, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "C64": 8}[code]
    path = tmp_path / "m.safetensors"
    path.write_bytes(safetensors_bytes({"w": (code, (2, 2), (0, 4 * size))}, b"\x00" * 4 * size))
    assert list_tensors(path) == {"w": (code, (2, 2))}
    with pytest.raises(TypeError, match=f"unsupported dtype {code}"):
        load_weights(path, "w")


def test_unsupported_numpy_dtype(tmp_path):
    npy = tmp_path / "m.npy"
    np.save(npy, np.arange(6).reshape(3, 2))
    with pytest.raises(TypeError, match="unsupported dtype int64"):
        load_weights(npy)
    npz = tmp_path / "m.npz"
    np.savez(npz, w=W32, b=np.arange(7) > 2)
    with pytest.raises(TypeError, match="unsupported dtype bool"):
        load_weights(npz, "w", "b")
    with pytest.raises(TypeError, match="dtype must be"):
        load_weights(npz, "w", dtype=np.float16)


def test_wrong_ndim_and_shape_mismatch(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"w": W32, "b": B32, "b5": B32[:5], "v": B32, "t": np.ones((2, 2, 2))})
    with pytest.raises(ValueError, match=r"must be 2-D .* got 1-D"):
        load_weights(path, "v")
    with pytest.raises(ValueError, match=r"must be 2-D .* got 3-D"):
        load_weights(path, "t")
    with pytest.raises(ValueError, match=r"must be 1-D .* got 2-D"):
        load_weights(path, "w", "w")
    with pytest.raises(ValueError, match=r"shape mismatch: .* 7 rows .* length 5"):
        load_weights(path, "w", "b5")
    npy = tmp_path / "v.npy"
    np.save(npy, B32)
    with pytest.raises(ValueError, match="must be 2-D"):
        load_weights(npy)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "m.safetensors"
    good = safetensors_bytes({"w": ("F32", (2, 2), (0, 16))}, b"\x00" * 16)

    def check(raw, match):
        path.write_bytes(raw)
        with pytest.raises(ValueError, match=match):
            list_tensors(path)
        with pytest.raises(ValueError, match=match):
            load_weights(path)

    check(b"", "fewer than the 8-byte")
    check(b"\x05\x00\x00", "fewer than the 8-byte")
    check(struct.pack("<Q", 1000) + b"{}", "header length 1000 exceeds")
    check(good[:20], "truncated or corrupt")  # the header itself cut short
    check(good[:-4], "beyond the 12 data bytes")  # the data cut short
    check(struct.pack("<Q", 8) + b"not json", "not valid JSON")
    check(struct.pack("<Q", 4) + b"\xff\xfe{}", "not valid JSON")
    check(struct.pack("<Q", 8) + b"[1, 2]  ", "not a JSON object")
    check(safetensors_bytes({"w": ("F32", (2, 2), (8, 4))}, b"\x00" * 16), "data_offsets")
    check(safetensors_bytes({"w": ("F32", (2, 2), (0, 12))}, b"\x00" * 16), "need 16")
    check(safetensors_bytes({"w": ("F32", (2, -2), (0, 16))}, b"\x00" * 16), "invalid shape")
    check(safetensors_bytes({"w": ("F32", (2, 2), (0,))}, b"\x00" * 16), "data_offsets")
    check(safetensors_bytes({"w": (3, (2, 2), (0, 16))}, b"\x00" * 16), "invalid dtype")
    raw = struct.pack("<Q", 16) + b'{"w": [1, 2, 3]}'
    check(raw, "corrupt")


def test_corrupt_npy_and_npz(tmp_path):
    npy = tmp_path / "m.npy"
    npy.write_bytes(b"not an array")
    with pytest.raises(ValueError, match="cannot read"):
        load_weights(npy)
    npz = tmp_path / "m.npz"
    npz.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        load_weights(npz)
    with pytest.raises(ValueError, match="cannot read"):
        list_tensors(npz)


def test_writer_rejects_bad_input(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        save_safetensors(path, {"w": np.zeros(3, np.int32)})
    with pytest.raises(ValueError, match="invalid tensor name"):
        save_safetensors(path, {"__metadata__": W32})
    with pytest.raises(TypeError, match="dict"):
        save_safetensors(path, [W32])


# --- cross-check with the reference implementation, if present --------------------------------


def test_cross_check_with_safetensors_package(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    ours = tmp_path / "ours.safetensors"
    theirs = tmp_path / "theirs.safetensors"
    tensors = {"w": W32, "b": B32.astype(np.float16), "x": np.ones((2, 3))}
    save_safetensors(ours, tensors)
    back = st_numpy.load_file(str(ours))
    for name, arr in tensors.items():
        np.testing.assert_array_equal(back[name], arr)
    st_numpy.save_file(tensors, str(theirs), metadata={"format": "np"})
    codes = {"float32": "F32", "float16": "F16", "float64": "F64"}
    want = {name: (codes[a.dtype.name], a.shape) for name, a in tensors.items()}
    assert list_tensors(theirs) == want
    assert list_tensors(ours) == want
    for name, arr in tensors.items():  # every tensor, read back by our reader, value for value
        got = load_weights(theirs, name, dtype=np.float64)[0] if arr.ndim == 2 else None
        if got is not None:
            np.testing.assert_array_equal(got, arr.astype(np.float64))
    W, b = load_weights(theirs, "w", "b")
    np.testing.assert_array_equal(W, W32)
    np.testing.assert_array_equal(b, B32.astype(np.float16).astype(np.float32))
    _, b16 = load_weights(theirs, "w", "b", dtype=np.float64)
    np.testing.assert_array_equal(b16, B32.astype(np.float16).astype(np.float64))
