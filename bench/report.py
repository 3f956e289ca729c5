"""Where the benches keep their figures: one JSON file each in bench/results/."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def save(name: str, figures: Mapping[str, Any]) -> Path:
    """Keep a bench's figures as bench/results/<name>."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(figures, indent=2))
    return path


def save_and_print(name: str, figures: Mapping[str, Any]) -> None:
    save(name, figures)
    print(json.dumps(figures, indent=2))
