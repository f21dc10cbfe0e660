"""``python -m ringflow``: the ``ringflow`` command, for when its script is not on PATH."""

from __future__ import annotations

import sys

from ringflow.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
