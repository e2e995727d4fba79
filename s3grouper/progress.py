"""Progress on stderr (a tqdm bar per data file), only when asked (the CLI asks on a TTY)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    def __init__(self, files: int, enabled: bool) -> None:
        self._files = files
        self._enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self._enabled:
            from tqdm import tqdm  # only on a terminal: keeps start-up short

            self._bar = tqdm(
                total=self._files, unit="file", desc="s3grouper", file=sys.stderr, leave=True
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def rows(self, objects: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix(objects=objects, refresh=False)

    def file_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)
