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
