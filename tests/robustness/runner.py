"""Child process of the fuzz harness: replays a batch of calls and reports each one.

Usage: ``python tests/robustness/runner.py BATCH.pkl FIRST``. The batch is a pickled list of
case dicts (see ``families.py``); cases from index FIRST on are run in order. For every case
one JSON line ``{"start": i}`` is printed (flushed) *before* the call and one
``{"end": i, "outcome": ..., "detail": ...}`` after it, so that a parent can name the case
that killed the process. Outcomes: ``result`` (a result that passed its checks), ``error``
(an allowed exception whose message names the problem) and ``failure``. Everything written to
file descriptor 2 during a call (Rust panic messages included) is captured per case.
"""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

ALLOWED = ("ValueError", "TypeError", "MemoryError")
WORDS = (
    "nan",
    "inf",
    "finite",
    "shape",
    "dtype",
    "empty",
    "range",
    "size",
    "dimension",
    "ndim",
    "2-d",
    "1-d",
    "negative",
    "positive",
    "integer",
    "float",
    "real",
    "sparse",
    "square",
    "indices",
    "indptr",
    "index",
    "overflow",
    "too large",
    "too many",
    "memory",
    "file",
    "header",
    "npy",
    "npz",
    "safetensors",
    "must",
    "expected",
    "invalid",
    "not a valid",
    "at least",
    "at most",
    "unknown",
    "exceeds",
    "candidates",
    "directory",
    "not fitted",
)
STDERR_BAD = ("panicked at", "RUST_BACKTRACE", "Traceback")


def materialize(v, folder):
    import numpy as np
    import scipy.sparse as sp

    if isinstance(v, tuple) and v and isinstance(v[0], str) and v[0].startswith("@"):
        tag = v[0]
        if tag == "@arr":
            a, layout = v[1], v[2]
            if layout == "f":
                return np.asfortranarray(a)
            if layout == "strided":
                big = np.zeros((a.shape[0] * 2,) + a.shape[1:], a.dtype) if a.ndim else a.copy()
                if a.ndim:
                    big[::2] = a
                    return big[::2]
                return big
            if layout == "readonly":
                a = a.copy()
                a.flags.writeable = False
                return a
            return np.ascontiguousarray(a) if a.ndim else a
        if tag == "@sparse":
            fmt, data, ind, ptr, shape = v[1:]
            if fmt == "coo":
                return sp.coo_matrix((data, (ind, ptr)), shape=shape)
            cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
            try:
                return cls((data, ind, ptr), shape=shape)
            except Exception:  # a structure scipy refuses: build it around the check
                m = cls(shape, dtype=data.dtype if data.size else np.float64)
                m.data, m.indices, m.indptr = data, ind.astype(np.int32), ptr.astype(np.int32)
                return m
        if tag == "@file":
            p = os.path.join(folder, v[1])
            with open(p, "wb") as f:
                f.write(v[2])
            return p
        if tag == "@path":
            return os.path.join(folder, v[1])
        if tag == "@call":
            args = [materialize(a, folder) for a in v[2]]
            kwargs = {k: materialize(x, folder) for k, x in v[3].items()}
            if v[1].startswith("@method:"):
                return getattr(args[0], v[1][len("@method:") :])(*args[1:], **kwargs)
            return resolve(v[1])(*args, **kwargs)
    if isinstance(v, tuple):
        return tuple(materialize(x, folder) for x in v)
    if isinstance(v, list):
        return [materialize(x, folder) for x in v]
    if isinstance(v, dict):
        return {k: materialize(x, folder) for k, x in v.items()}
    return v


def resolve(name):
    import latentgeo

    obj = latentgeo
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def run_cli(case, folder):
    """Run ``python -m latentgeo ARGV`` in `folder`; (outcome, detail)."""
    argv = [str(materialize(a, folder)) for a in case["args"]]
    before = set(os.listdir(folder))
    out_path = None
    if "--out" in argv:
        out_path = argv[argv.index("--out") + 1]
    try:
        p = subprocess.run(
            [sys.executable, "-m", "latentgeo", *argv, "--no-progress"]
            if argv and argv[0] not in ("--version",) and case.get("progress_flag", True)
            else [sys.executable, "-m", "latentgeo", *argv],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=case.get("timeout", 60),
            preexec_fn=limit_memory,
        )
    except subprocess.TimeoutExpired:
        return "failure", "hang: no exit within %ss" % case.get("timeout", 60)
    err = p.stderr
    if p.returncode not in (0, 2):
        return "failure", "exit %d: %s" % (p.returncode, err.strip()[-300:])
    for bad in STDERR_BAD:
        if bad in err:
            return "failure", "stderr has %r: %s" % (bad, err.strip()[-300:])
    after = set(os.listdir(folder)) - before
    if p.returncode == 2:
        lines = err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("latentgeo: error: "):
            return "failure", "exit 2 without one 'latentgeo: error:' line: %r" % err[-300:]
        if after:
            return "failure", "left behind on failure: %s" % sorted(after)
        if out_path and os.path.exists(out_path):
            return "failure", "output file written on failure"
        return "error", lines[0]
    if out_path:
        import numpy as np

        if not os.path.exists(out_path):
            return "failure", "exit 0 but no --out file"
        try:
            np.load(out_path)
        except Exception as e:
            return "failure", "--out file unreadable: %r" % e
    return "result", ""


def limit_memory():
    import resource

    cap = int(os.environ.get("LATENTGEO_FUZZ_MEM", str(6 * 2**30)))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def clear_message(e, case):
    msg = str(e).lower()
    words = WORDS + tuple(w.lower() for w in case.get("words", ()))
    return any(w in msg for w in words) or any(
        re.search(r"\b%s\b" % re.escape(k.lower()), msg) for k in case.get("kwargs", {})
    )


def run_call(case, folder):
    from checks import CHECKS

    target = case["target"]
    before = None
    try:
        args = materialize(case["args"], folder)
        kwargs = materialize(case.get("kwargs", {}), folder)
        before = set(os.listdir(folder))
        if target.startswith("@method:"):
            obj, args = args[0], args[1:]
            fn = getattr(obj, target[len("@method:") :])
        else:
            fn = resolve(target)
        result = fn(*args, **kwargs)
        if case.get("post"):
            result = resolve_post(case["post"], result, folder)
    except KeyboardInterrupt:
        return "failure", "KeyboardInterrupt"
    except BaseException as e:  # noqa: B036 - PanicException is a BaseException
        name = type(e).__name__
        allowed = ALLOWED + tuple(case.get("allow", ()))
        if case.get("writes") and before is not None:
            left = sorted(set(os.listdir(folder)) - before)
            if left:
                return "failure", "%s, and left behind %s" % (name, left)
        if case.get("expect") == "result":
            return "failure", "valid input raised %s: %s" % (name, str(e)[:300])
        names = {c.__name__ for c in type(e).__mro__}
        if not names & set(allowed) or not isinstance(e, Exception):
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            return "failure", "unclear error %s" % tb[:300]
        if not clear_message(e, case):
            return "failure", "message names no problem: %s: %s" % (name, str(e)[:300])
        return "error", "%s: %s" % (name, str(e)[:200])
    check = case.get("check")
    if check:
        try:
            bad = CHECKS[check[0]](result, args, kwargs, case, **check[1])
        except Exception as e:
            bad = "check crashed: %s" % traceback.format_exc(limit=3)[-400:]
            del e
        if bad:
            return "failure", "wrong result: %s" % bad
    return "result", ""


def resolve_post(post, result, folder):
    """Apply a follow-up to a result: ("list",) materialises an iterator, ("method", name,
    args) calls a method of it (e.g. Whitening.fit(...).transform(X))."""
    if post[0] == "list":
        return [tuple(x.copy() if hasattr(x, "copy") else x for x in b) for b in result]
    if post[0] == "method":
        return getattr(result, post[1])(*materialize(post[2], folder))
    raise ValueError(post)


def main():
    path, first = sys.argv[1], int(sys.argv[2])
    with open(path, "rb") as f:
        cases = pickle.load(f)
    import latentgeo  # noqa: F401 - import before the first case so that it is not timed

    for i in range(first, len(cases)):
        case = cases[i]
        folder = tempfile.mkdtemp(prefix="lgfuzz")
        print(json.dumps({"start": i}), flush=True)
        errfile = tempfile.TemporaryFile()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(errfile.fileno(), 2)
        try:
            if case["target"] == "cli":
                outcome, detail = run_cli(case, folder)
            else:
                outcome, detail = run_call(case, folder)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        errfile.seek(0)
        err = errfile.read().decode("utf8", "replace")
        errfile.close()
        for bad in STDERR_BAD:
            if bad in err and outcome != "failure":
                outcome, detail = "failure", "stderr has %r: %s" % (bad, err.strip()[:300])
        shutil.rmtree(folder, ignore_errors=True)
        print(json.dumps({"end": i, "outcome": outcome, "detail": detail}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    limit_memory()
    main()
