"""Fuzz harness (issue 13): adversarial inputs against every public function and CLI command.

Cases are drawn here with hypothesis (a fixed budget per family, derandomized under the "ci"
profile), pickled, and replayed by ``runner.py`` in a child process per area, so an abort
(SIGABRT/SIGSEGV) or a hang is reported as a failure of the case that was running instead of
killing pytest; the child is then restarted after that case. Each family is one test: it
passes when none of its cases failed, or, for a family in ``known.KNOWN``, when at least one
still fails (strict: a known failure that is fixed makes the test fail until its entry is
removed).

``LATENTGEO_FUZZ=long`` draws more examples of bigger arrays. ``-s`` prints the table of
inputs tried per family and outcome; ``LATENTGEO_FUZZ_TABLE=PATH`` also writes it to PATH.
"""

import json
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from robustness.families import FAMILIES
from robustness.known import KNOWN
from support.adversarial import LONG
from support.strategies import BASE_EXAMPLES

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "runner.py")
PER_FAMILY = {"cli": 6, "unargmax": 8, "diffusion": 10}
DEFAULT = 16
CASE_TIMEOUT = 120 if LONG else 60

_RESULTS = {}
TALLY = {}


def budget(area):
    n = PER_FAMILY.get(area, DEFAULT) * (8 if LONG else 1)
    return max(1, n * settings.default.max_examples // BASE_EXAMPLES)


def draw_cases(strategy, n):
    out = []

    @settings(
        parent=settings.default,
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(c):
        out.append(c)

    collect()
    return out


def run_batch(cases):
    """Run `cases` in child processes; a list of (outcome, detail), one per case."""
    results = [None] * len(cases)
    env = dict(os.environ)
    env.pop("RUST_BACKTRACE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(HERE), HERE] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    with tempfile.TemporaryDirectory() as tmp:
        batch = os.path.join(tmp, "batch.pkl")
        with open(batch, "wb") as f:
            pickle.dump(cases, f)
        first = 0
        while first < len(cases):
            p = subprocess.Popen(
                [sys.executable, RUNNER, batch, str(first)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            lines = queue.Queue()
            err = []
            threading.Thread(target=_pump, args=(p.stdout, lines.put), daemon=True).start()
            threading.Thread(target=_pump, args=(p.stderr, err.append), daemon=True).start()
            current = None
            while True:
                try:
                    line = lines.get(timeout=CASE_TIMEOUT)
                except queue.Empty:
                    p.kill()
                    p.wait()
                    if current is None:
                        raise RuntimeError("runner gave no answer in %ss" % CASE_TIMEOUT) from None
                    results[current] = ("failure", "hang: no answer within %ss" % CASE_TIMEOUT)
                    first = current + 1
                    break
                if line is None:
                    rc = p.wait()
                    if current is None:
                        raise RuntimeError("runner died before any case: %s" % "".join(err))
                    if results[current] is None:
                        tail = "".join(err).strip()[-300:]
                        results[current] = ("failure", "process died (exit %d): %s" % (rc, tail))
                    first = current + 1
                    break
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                else:
                    results[msg["end"]] = (msg["outcome"], msg["detail"])
    return results


def _pump(stream, put):
    for line in stream:
        put(line)
    put(None)


def area_results(area):
    if area not in _RESULTS:
        names, cases = [], []
        for fam, strat in FAMILIES[area].items():
            for c in draw_cases(strat(), budget(area)):
                c["family"] = fam
                names.append(fam)
                cases.append(c)
        outcomes = run_batch(cases)
        per = {}
        for fam, c, out in zip(names, cases, outcomes):
            per.setdefault(fam, []).append((c, out))
            TALLY.setdefault(fam, Counter())[out[0]] += 1
        _RESULTS[area] = per
    return _RESULTS[area]


def describe(c):
    return "%s(%s)" % (c["target"], ", ".join(_short(a) for a in c["args"]))


def _short(v):
    if isinstance(v, tuple) and v and v[0] == "@arr":
        a = v[1]
        return "array(shape=%s, dtype=%s, %s)" % (a.shape, a.dtype, v[2])
    if isinstance(v, tuple) and v and v[0] == "@file":
        return "file(%s, %d bytes)" % (v[1], len(v[2]))
    if isinstance(v, tuple) and v and v[0] == "@sparse":
        return "%s(shape=%s)" % (v[1], v[5])
    if isinstance(v, tuple) and v and v[0] == "@call":
        return "%s(...)" % v[1]
    return repr(v)[:60]


PARAMS = [(area, fam) for area in FAMILIES for fam in FAMILIES[area]]


@pytest.mark.parametrize("area,fam", PARAMS, ids=[f for _, f in PARAMS])
def test_fuzz(area, fam):
    cases = area_results(area)[fam]
    failures = [(c, out) for c, out in cases if out[0] == "failure"]
    if fam in KNOWN:
        assert failures, "known failure %r no longer happens: remove it from KNOWN" % KNOWN[fam]
        return
    msg = "\n".join("%s\n    -> %s" % (describe(c), out[1]) for c, out in failures[:8])
    assert not failures, "%d of %d cases failed:\n%s" % (len(failures), len(cases), msg)


def table():
    rows = ["| family | tried | result | clear error | failure |", "|---|---|---|---|---|"]
    total = Counter()
    for fam in sorted(TALLY):
        t = TALLY[fam]
        total.update(t)
        rows.append(
            "| %s | %d | %d | %d | %d |"
            % (fam, sum(t.values()), t["result"], t["error"], t["failure"])
        )
    rows.append(
        "| **all** | %d | %d | %d | %d |"
        % (sum(total.values()), total["result"], total["error"], total["failure"])
    )
    return "\n".join(rows)


@pytest.fixture(scope="module", autouse=True)
def _print_table():
    yield
    if not TALLY:
        return
    text = table()
    print("\nfuzz harness: inputs tried per family and outcome\n" + text)
    dest = os.environ.get("LATENTGEO_FUZZ_TABLE")
    if dest:
        with open(dest, "w") as f:
            f.write(text + "\n")
