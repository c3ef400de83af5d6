"""``latentgeo audit``: verdicts in text and JSON, --html, --sections, .safetensors input and the
softmax head with --bias and --vocab."""

import json
import re
import sys

import numpy as np
import pytest
from support.cli import assert_error, run, run_json

import latentgeo
from latentgeo.unargmax import save_safetensors


def test_text_and_json_carry_the_verdicts(capsys, example_npy):
    rc, out, err = run(capsys, "audit", example_npy, "--k", 5)
    assert rc == 0 and err == ""
    got = run_json(capsys, "audit", example_npy, "--k", 5)
    for name, sec in got["sections"].items():
        assert f"== {name} ==\n  [{sec['level']}] {sec['verdict']}\n" in out
        assert f"  next step: {sec['next_step']}\n" in out
    assert re.search(r"^overall: (ok|warning|problem) \(array ", out, re.M)
    assert got["html"] is None and got["level"] in ("ok", "warning", "problem")


def test_sections_are_chosen(capsys, example_npy):
    got = run_json(capsys, "audit", example_npy, "--sections", "whitening,hubness")
    assert list(got["sections"]) == ["hubness", "whitening"]
    assert_error(*run(capsys, "audit", example_npy, "--sections", "hubness,nope"), "nope")


def test_html_report(capsys, tmp_path, example_npy):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    rc, text, err = run(capsys, "audit", example_npy, "--k", 5, "--html", out)
    assert rc == 0 and err == "" and text.rstrip().endswith(f"wrote {out} (HTML report)")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count('<figure class="plot"') == 5
    assert str(example_npy) in html
    got = run_json(capsys, "audit", example_npy, "--k", 5, "--html", out)
    assert got["html"] == str(out)
    assert_error(*run(capsys, "audit", example_npy, "--html", tmp_path / "no" / "r.html"),
                 "no such directory")  # fmt: skip


def test_html_without_matplotlib_names_the_extra(capsys, example_npy, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, out, err = run(capsys, "audit", example_npy, "--html", tmp_path / "r.html")
    assert_error(rc, out, err, "pip install 'latentgeo[report]'")
    assert not (tmp_path / "r.html").exists()
    assert run_json(capsys, "audit", example_npy, "--sections", "array")["sections"]["array"]


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_safetensors_gives_the_same_report_as_npy(capsys, tmp_path, example, dtype):
    W = example[:300, :16]
    st = tmp_path / "w.safetensors"
    if dtype == "F16":
        W = W.astype(np.float16)
    save_safetensors(st, {"emb": W, "other": np.zeros(3, np.float32)}, bfloat16=dtype == "BF16")
    stored, _ = latentgeo.load_weights(st, "emb")  # the values as stored (rounded), float32
    npy = tmp_path / "w.npy"
    np.save(npy, np.asarray(stored, dtype=np.float32))
    a = run_json(capsys, "audit", st, "--key", "emb", "--k", 5)
    b = run_json(capsys, "audit", npy, "--k", 5)
    assert a["input"]["dtype"] == dtype and a["input"]["key"] == "emb"
    assert a["sections"] == b["sections"]
    assert_error(*run(capsys, "audit", st), "emb")  # two tensors: --key is needed


@pytest.fixture
def head():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((40, 6))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    W[7] = 0.5 * W[1] + 0.3 * W[2] + 0.2 * W[3]
    return W


def test_softmax_with_bias_and_vocab(capsys, tmp_path, head):
    tok = tmp_path / "tokenizer.json"
    tok.write_text(json.dumps({"model": {"vocab": {f"t{i}": i for i in range(40)}}}))
    npz = tmp_path / "head.npz"
    np.savez(npz, W=head, b=np.zeros(40))
    got = run_json(capsys, "audit", npz, "--key", "W", "--softmax", "--bias", "b",
                   "--vocab", tok, "--sections", "unargmaxable")  # fmt: skip
    sec = got["sections"]["unargmaxable"]
    assert sec["unargmaxable"] == [7] and sec["unargmaxable_tokens"] == ["t7"]
    assert sec["has_bias"] is True and sec["level"] == "problem"
    b = np.zeros(40)
    b[7] = 1.0
    np.save(tmp_path / "W.npy", head)
    np.save(tmp_path / "b.npy", b)
    got = run_json(capsys, "audit", tmp_path / "W.npy", "--softmax", "--bias", tmp_path / "b.npy",
                   "--sections", "unargmaxable")  # fmt: skip
    assert got["sections"]["unargmaxable"]["unargmaxable"] == []
    rc, out, _ = run(capsys, "audit", npz, "--key", "W", "--softmax", "--vocab", tok)
    assert rc == 0 and "7 't7'" in out
    assert_error(*run(capsys, "audit", npz, "--key", "W", "--bias", "b"), "only with --softmax")
