"""Running the CLI in-process from tests."""

import json

from latentgeo import cli


def run(capsys, *argv):
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv):
    """Run with --json, require success and parse the output."""
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def assert_error(rc, out, err, match):
    """A one-line ``latentgeo: error: ...`` message containing `match`, exit status 2."""
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latentgeo: error: ")
    assert match in lines[0], lines[0]
