"""What the bundler benchmark measures: the datasets (objects of one size in a source bucket),
the measured runs on them (GET ceiling, bundler, plain loop) and the default scenarios that
group them. bench.bundler_bench runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from s3common.sizes import KiB, MiB, format_size


@dataclass(frozen=True)
class Dataset:
    """Objects of one size in their own source bucket; scenarios use the first N keys."""

    name: str
    size: int
    tagged: bool = False  # every object gets two tags (the bundler then reads them)
    text: bool = False  # JSON log lines (bench/text_data.py) instead of hex of random bytes

    @property
    def bucket(self) -> str:
        return f"bench-src-{self.name}"

    def key(self, i: int) -> str:
        return f"data/{i % 97:02d}/object-{i:07d}.bin"


@dataclass(frozen=True)
class Run:
    """One measured process: ``ceiling``, ``bundler`` or ``loop`` over ``objects`` objects."""

    kind: str
    objects: int
    compress: str = ""  # bundler: --compress gzip or zstd
    repeat: int = 1  # measured in this many interleaved rounds; the fastest try counts
    client: str = ""  # ceiling/loop: "crt" for awscrt GETs; bundler: its --get-client

    @property
    def label(self) -> str:
        if self.kind == "bundler":
            label = {"": "bundler", "gzip": "bundler -c", "zstd": "bundler zstd"}[self.compress]
            return label + (f" ({self.client} GETs)" if self.client else "")
        if self.client == "crt":
            return {"ceiling": "GET ceiling awscrt", "loop": "awscrt loop"}[self.kind]
        return {"ceiling": "GET ceiling", "loop": "boto3 loop"}[self.kind]


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    dataset: Dataset
    runs: tuple[Run, ...]


D4K = Dataset("4k", 4 * KiB)
D4K_TAGGED = Dataset("4k-tagged", 4 * KiB, tagged=True)
D256K = Dataset("256k", 256 * KiB)
D8M = Dataset("8m", 8 * MiB)
D12M = Dataset("12m", 12 * MiB)
D4K_TEXT = Dataset("4k-text", 4 * KiB, text=True)
D256K_TEXT = Dataset("256k-text", 256 * KiB, text=True)
#: The bundler plain, with gzip (-c) and with zstd: the same objects, the same ceiling.
CODECS = ("", "gzip", "zstd")


def bundler_scenarios(quick: bool = False) -> list[Scenario]:
    """The default scenarios (``quick``: the same shapes, about a fifth of the objects)."""

    def n(full: int, small: int) -> int:
        return small if quick else full

    return [*_throughput_scenarios(n), *_path_scenarios(n), *_text_scenarios(n)]


def _bundlers(objects: int, repeat: int = 1) -> tuple[Run, ...]:
    return tuple(Run("bundler", objects, compress=c, repeat=repeat) for c in CODECS)


def _throughput_scenarios(n: Callable[[int, int], int]) -> list[Scenario]:
    """4 KiB, 256 KiB and 8 MiB objects: the bundler against the GET ceilings and loops."""
    small, mid, big = n(5000, 1000), n(2000, 400), n(200, 40)
    return [
        Scenario(
            "4k",
            f"{small} x 4 KiB: per-request cost dominates; boto3 and awscrt ceilings and the "
            "bundler plain, -c (gzip) and zstd (3 interleaved rounds, fastest kept); the "
            "bundler with boto3 GETs; boto3 and awscrt loops (2)",
            D4K,
            (
                Run("ceiling", small, repeat=3),
                Run("ceiling", small, repeat=3, client="crt"),
                *_bundlers(small, repeat=3),
                Run("bundler", small, client="boto3"),
                Run("loop", n(300, 100), repeat=2),
                Run("loop", n(300, 100), repeat=2, client="crt"),
            ),
        ),
        Scenario(
            "256k",
            f"{mid} x 256 KiB: {format_size(mid * 256 * KiB)} archive; the bundler plain, -c "
            "and zstd (3 interleaved rounds, fastest kept)",
            D256K,
            (
                Run("ceiling", mid),
                Run("ceiling", mid, client="crt", repeat=3),
                *_bundlers(mid, repeat=3),
                Run("loop", n(100, 40)),
            ),
        ),
        Scenario(
            "8m",
            f"{big} x 8 MiB: the largest objects the bundler still buffers (default --buffer); "
            "plain, -c and zstd",
            D8M,
            (
                Run("ceiling", big),
                Run("ceiling", big, client="crt"),
                *_bundlers(big),
                Run("loop", n(10, 5)),
            ),
        ),
    ]


def _path_scenarios(n: Callable[[int, int], int]) -> list[Scenario]:
    """The bundler's other paths: archive size against peak RSS, streamed objects, tags."""
    return [
        Scenario(
            "1g",
            "bundler peak RSS vs archive size: the same 8 MiB objects, "
            + (" vs ".join(format_size(c * 8 * MiB) for c in (n(32, 8), n(128, 32))))
            + " archives",
            D8M,
            (Run("bundler", n(32, 8)), Run("bundler", n(128, 32))),
        ),
        Scenario(
            "stream",
            f"{n(64, 16)} x 12 MiB: objects above the 8 MiB buffering limit (streaming path); "
            "plain, -c and zstd",
            D12M,
            (Run("ceiling", n(64, 16)), *_bundlers(n(64, 16))),
        ),
        Scenario(
            "tagged",
            f"{n(1000, 200)} x 4 KiB with 2 tags each: the tagging GET per tagged object",
            D4K_TAGGED,
            (Run("bundler", n(1000, 200)),),
        ),
    ]


def _text_scenarios(n: Callable[[int, int], int]) -> list[Scenario]:
    """Text-like objects (JSON log lines): the compression ratio of -c and zstd."""
    small, mid = n(2000, 500), n(500, 100)
    return [
        Scenario(
            "text-4k",
            f"{small} x 4 KiB of JSON log lines: archive size with -c (gzip -1) and zstd",
            D4K_TEXT,
            (Run("ceiling", small, client="crt"), *_bundlers(small)),
        ),
        Scenario(
            "text-256k",
            f"{mid} x 256 KiB of JSON log lines: archive size with -c (gzip -1) and zstd",
            D256K_TEXT,
            (Run("ceiling", mid, client="crt"), *_bundlers(mid)),
        ),
    ]
