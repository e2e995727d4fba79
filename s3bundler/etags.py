"""The ETag of a multipart-uploaded object, computed over the bytes read.

S3's ETag of an object uploaded in N parts (without SSE-KMS or SSE-C) is
``hex(md5(md5(part 1) + ... + md5(part N))) + "-N"``: it verifies the bytes once the part
boundaries are known. S3 says how big part k is (HEAD with ``PartNumber=k``); almost every
uploader uses one part size for all but the last part, so part 1's size gives the layout, and
the other parts are asked only when that guess does not verify.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

_MULTIPART = re.compile(r"^[0-9a-f]{32}-(\d+)$")


def multipart_parts(etag: str) -> int:
    """N for a multipart ETag ``<hex>-N``, else 0."""
    match = _MULTIPART.match(etag)
    return int(match.group(1)) if match else 0


def uniform_layout(size: int, first_part: int, parts: int) -> list[int] | None:
    """Part sizes if every part but the last has ``first_part`` bytes; None when ``size`` and
    ``parts`` cannot be laid out that way."""
    if parts == 1:
        return [size] if first_part == size else None
    last = size - first_part * (parts - 1)
    if parts < 1 or first_part < 1 or not 0 < last <= first_part:
        return None
    return [first_part] * (parts - 1) + [last]


class MultipartEtag:
    """Feed the object's bytes in order; :meth:`etag` is S3's ETag for that part layout."""

    def __init__(self, part_sizes: Sequence[int]) -> None:
        self._sizes = list(part_sizes)
        self._digests: list[bytes] = []
        self._md5 = hashlib.md5()
        self._left = self._sizes[0] if self._sizes else 0
        self.overflow = False  # more bytes than the layout holds

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._left == 0:
                if len(self._digests) + 1 >= len(self._sizes):
                    self.overflow = True
                    return
                self._digests.append(self._md5.digest())
                self._md5 = hashlib.md5()
                self._left = self._sizes[len(self._digests)]
            take = min(self._left, len(view))
            self._md5.update(view[:take])
            self._left -= take
            view = view[take:]

    def etag(self) -> str:
        digests = [*self._digests, self._md5.digest()]
        if self.overflow or self._left or len(digests) != len(self._sizes):
            return ""  # the bytes do not fill the layout: no ETag can match
        return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"
