"""``python -m latentgeo``: the same command line as the ``latentgeo`` script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
