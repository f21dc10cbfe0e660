"""Write ``docs/workflow.schema.json``, the JSON Schema of workflow files, from the code.

Run it after changing the workflow format or a step kind::

    python docs/generate_schema.py        # or: python -m docs.generate_schema

``tests/docs/test_schema_file.py`` fails while the committed file differs from ``render()``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "workflow.schema.json"


def render() -> str:
    """The schema file: ``json_schema()`` as JSON, sorted keys, 2-space indent, final newline."""
    if str(ROOT) not in sys.path:
        # Run as ``python docs/generate_schema.py``: the project root is not on the path yet.
        sys.path.insert(0, str(ROOT))
    from workflows.spec import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    """Write the schema file; print where."""
    SCHEMA_FILE.write_text(render(), encoding="utf-8", newline="\n")
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
