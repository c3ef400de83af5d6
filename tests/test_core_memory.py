"""Sizes from the caller never abort the interpreter or escape as a Rust panic: a buffer whose
size overflows or that the system refuses is a MemoryError naming the input ("cannot allocate
N bytes for ..."), an inconsistent size a ValueError. Each case runs in a subprocess, so that
an abort (the old behaviour) fails the test instead of killing the test runner."""

import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, timeout: float = 120):
    """Run `code` in a fresh interpreter: (exit status, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


# Each snippet must raise; the subprocess prints the exception's class and message.
CASES = {
    "sample_huge_shape": (
        """
        from latentgeo.diffusion import VP, GaussianMixture, sample
        gmm = GaussianMixture([1.0], [[0.0, 0.0]], [1.0], covariance_type="spherical")
        sample(VP(), gmm, shape=(10**12, 2), steps=2)
        """,
        "MemoryError",
        "cannot allocate 16000000000000 bytes for 1000000000000 x 2 normal draws",
    ),
    "sample_shape_product_overflows": (
        """
        from latentgeo.diffusion import VP, GaussianMixture, sample
        gmm = GaussianMixture([1.0], [[0.0, 0.0]], [1.0], covariance_type="spherical")
        sample(VP(), gmm, shape=(2**40, 2**40), steps=2)
        """,
        "MemoryError",
        "overflows",
    ),
    "normals_size_overflows": (
        """
        from latentgeo import _core
        _core.diffusion_normals(0, stream="prior", first_index=0, step=0, n=2**62, d=16)
        """,
        "MemoryError",
        "4611686018427387904 x 16 normal draws: its size 4611686018427387904 x 16 overflows",
    ),
    "normals_index_past_2_64": (
        """
        from latentgeo import _core
        _core.diffusion_normals(0, stream="prior", first_index=2**64 - 1, step=0, n=2, d=1)
        """,
        "ValueError",
        "first_index + the number of samples must be below 2**64",
    ),
    "k_occurrence_huge_n_index": (
        """
        import numpy as np
        from latentgeo import _core
        _core.k_occurrence(np.zeros((2, 1), dtype=np.int64), n_index=10**15)
        """,
        "MemoryError",
        "cannot allocate 8000000000000000 bytes for the k-occurrence counts of n_index = "
        "1000000000000000 points",
    ),
    "sample_shape_inconsistent_with_x": (
        """
        import numpy as np
        from latentgeo import _core
        _core.diffusion_sample(
            ("vp", np.array([0.1, 20.0]), None), lambda x, t: x, np.zeros((2, 3)), kind="eps",
            sample_shape=[2, 5], call_f32=False, int_t=False,
            grid=np.array([1.0, 0.5]), to_data=False, method="euler", eta=0.0, r=1.0,
            snr=0.16, n_corrector=0, seed=0, first_index=0, rtol=1e-5, atol=1e-5,
            first_step=None, max_steps=10, save_every=0)
        """,
        "ValueError",
        "sample_shape [2, 5] holds 10 values but the states have 3 columns",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_huge_sizes_raise_a_python_exception(name):
    code, cls, match = CASES[name]
    wrapped = (
        "try:\n"
        + textwrap.indent(textwrap.dedent(code), "    ")
        + "\nexcept BaseException as e:\n    print(type(e).__name__, '|', e)\n"
        + "else:\n    print('no exception')\n"
    )
    rc, out, err = run_python(wrapped)
    assert rc == 0, f"exit {rc}: {err[-2000:]}"
    assert "panicked" not in err and "PanicException" not in out, err
    got_cls, _, message = out.strip().partition(" | ")
    assert got_cls == cls, out
    assert match in message, message


def test_cli_sample_with_an_absurd_n_exits_2_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "latentgeo", "sample", "--n", "1000000000000", "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
    assert rc == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latentgeo: error: out of memory: cannot allocate "), lines[0]
    assert "bytes for 1000000000000 x 2 normal draws" in lines[0]
