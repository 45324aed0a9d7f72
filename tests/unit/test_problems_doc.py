from __future__ import annotations

import re
from pathlib import Path

from app.core.errors import PROBLEMS

DOC = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


def test_every_problem_slug_is_documented_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", DOC.read_text(), re.M))
    assert rows == {slug: str(status) for slug, (status, _) in PROBLEMS.items()}
