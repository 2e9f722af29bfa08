"""Progress bars on stderr, one look for every long piece of work (files, dedup phases, tokenizing)."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int | None, description: str, unit: str, enabled: bool, initial: int = 0) -> Any:
    """A tqdm bar; with `enabled` false it draws nothing (tests, pipes, `--no-progress`)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        desc=description,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )
