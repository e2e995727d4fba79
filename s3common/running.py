"""``with Thing() as thing:`` for objects that start something (a process, a thread) and must
stop it however the block ends: the moto server, the benchmark endpoint, the SQS heartbeat,
local workers."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class StartStop:
    """Entering calls ``start()`` (which returns the object), leaving calls ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
