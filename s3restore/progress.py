"""Progress bars on stderr for the get-back commands: shown on a terminal unless
``--no-progress``; output lines printed while a bar shows do not break it."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A tqdm bar (or nothing) with ``update(n)``, ``write(line)`` and ``close()``."""

    def __init__(self, enabled: bool, total: int | None, unit: str, desc: str) -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # only on a terminal: keeps start-up short

            scale = unit == "B"
            self._bar = tqdm(
                total=total,
                unit=unit,
                unit_scale=scale,
                unit_divisor=1024 if scale else 1000,
                desc=desc,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def write(self, line: str, err: bool = False) -> None:
        """``line`` on stdout (``err``: stderr), above the bar."""
        out = sys.stderr if err else sys.stdout
        if self._bar is not None:
            self._bar.write(line, file=out)
        else:
            out.write(line + "\n")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
