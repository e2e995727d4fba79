"""Text-like object content for the compression-ratio scenarios: JSON log lines (timestamps,
levels, services, user ids, request paths, latencies and a message of words drawn from a
Zipf-like vocabulary), distinct per object and reproducible. Random bytes do not compress and
hex of random bytes only by its alphabet (both codecs get it to ~50-58 %); this compresses
roughly as application logs do."""

from __future__ import annotations

import random
import string

_VOCAB_RNG = random.Random(2024)
WORDS = [
    "".join(_VOCAB_RNG.choices(string.ascii_lowercase, k=_VOCAB_RNG.randint(2, 10)))
    for _ in range(4000)
]
#: Zipf-like: the n-th word is drawn with weight 1/n.
CUM_WEIGHTS = []
_total = 0.0
for _n in range(1, len(WORDS) + 1):
    _total += 1 / _n
    CUM_WEIGHTS.append(_total)
SERVICES = ["api", "auth", "billing", "search", "upload", "thumbnailer", "mailer", "gateway"]
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 5 + ["WARN"] * 2 + ["ERROR"]
STATUSES = [200] * 20 + [201, 204, 301, 304, 400, 403, 404, 404, 500, 503]


def text_body(i: int, size: int) -> bytes:
    """``size`` bytes of log lines, seeded by ``i``."""
    rng = random.Random(i)
    lines: list[str] = []
    length = 0
    day, second = rng.randrange(1, 29), rng.randrange(86_400)
    while length < size:
        second += rng.randrange(0, 3)
        words = rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=rng.randint(3, 14))
        path = "/".join(rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=2))
        line = (
            f'{{"ts":"2024-03-{day:02d}T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:'
            f'{second % 60:02d}.{rng.randrange(1000):03d}Z","level":"{rng.choice(LEVELS)}",'
            f'"service":"{rng.choice(SERVICES)}","user":{rng.randrange(1, 200_000)},'
            f'"path":"/v1/{path}/{rng.randrange(10**6)}","status":{rng.choice(STATUSES)},'
            f'"ms":{rng.expovariate(1 / 40):.1f},"msg":"{" ".join(words)}"}}\n'
        )
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()[:size]
