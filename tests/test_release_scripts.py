"""The release scripts stop with a clear message and a non-zero exit on bad input (issue 14).

Only the argument and environment checks run here (they come before any build); the builds
themselves run in CI through `.ci/run`.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"

pytestmark = pytest.mark.skipif(
    not (SCRIPTS / "build-wheels").exists(), reason="the release scripts are not in this checkout"
)


def _run(*args, env=None, cwd=ROOT):
    return subprocess.run(
        ["bash", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--out"], "--out needs a directory"),
        (["--install"], "--install needs the extras"),
        (["--install", "test; rm -rf /"], "is not a comma-separated list of extras"),
    ],
)
def test_build_wheels_rejects_bad_arguments(args, message, tmp_path):
    out = tmp_path / "dist"
    r = _run(SCRIPTS / "build-wheels", *args)
    assert r.returncode == 1
    assert r.stderr.startswith("build-wheels: error: ") and message in r.stderr
    assert not out.exists()


def test_build_wheels_says_when_cargo_is_missing(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin")
    if any((Path(p) / "cargo").exists() for p in env["PATH"].split(":")):
        pytest.skip("cargo is installed system-wide here")
    r = _run(SCRIPTS / "build-wheels", "--out", tmp_path / "dist", env=env)
    assert r.returncode == 1
    assert "cargo not found: install a Rust toolchain" in r.stderr
    assert list((tmp_path / "dist").iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["newest"], "usage: scripts/test-wheel"),
        (["fastest", "x.whl"], "no wheel at 'x.whl'"),
    ],
)
def test_test_wheel_rejects_bad_arguments(args, message):
    r = _run(SCRIPTS / "test-wheel", *args)
    assert r.returncode == 1
    assert message in r.stderr


def test_test_wheel_rejects_an_unknown_check(tmp_path):
    wheel = tmp_path / "latentgeo-0.1.0-cp39-abi3-any.whl"
    wheel.write_bytes(b"")
    r = _run(
        SCRIPTS / "test-wheel",
        "fastest",
        wheel,
        env=dict(os.environ, LATENTGEO_VENVS=str(tmp_path)),
    )
    assert r.returncode == 1
    assert "unknown check 'fastest' (newest, lowest or qemu)" in r.stderr


def test_find_python_finds_this_minor_version_or_says_nothing():
    import sys

    r = _run(SCRIPTS / "find-python", f"{sys.version_info[0]}.{sys.version_info[1]}")
    if r.returncode == 0:
        found = r.stdout.strip()
        v = subprocess.run(
            [found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        assert v.stdout.strip() == str(tuple(sys.version_info[:2]))
    assert _run(SCRIPTS / "find-python", "3.99").returncode == 1
    assert _run(SCRIPTS / "find-python", "latest").returncode == 2


def test_apt_ensure_is_quiet_when_the_command_exists():
    r = _run(SCRIPTS / "apt-ensure", "bash", "bash")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert _run(SCRIPTS / "apt-ensure", "bash").returncode == 2
