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
    gzip: bool = False
    repeat: int = 1  # measured in this many interleaved rounds; the fastest try counts
    client: str = ""  # ceiling/loop: "crt" for awscrt GETs; bundler: its --get-client

    @property
    def label(self) -> str:
        if self.kind == "bundler":
            label = "bundler -c" if self.gzip else "bundler"
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


def bundler_scenarios(quick: bool = False) -> list[Scenario]:
    """The default scenarios (``quick``: the same shapes, about a fifth of the objects)."""

    def n(full: int, small: int) -> int:
        return small if quick else full

    return [*_throughput_scenarios(n), *_path_scenarios(n)]


def _throughput_scenarios(n: Callable[[int, int], int]) -> list[Scenario]:
    """4 KiB, 256 KiB and 8 MiB objects: the bundler against the GET ceilings and loops."""
    small, mid, big = n(5000, 1000), n(2000, 400), n(200, 40)
    return [
        Scenario(
            "4k",
            f"{small} x 4 KiB: per-request cost dominates; gzip on and off; boto3 and awscrt "
            "ceilings and the bundler (3 interleaved rounds, fastest kept); the bundler with "
            "boto3 GETs; boto3 and awscrt loops (2)",
            D4K,
            (
                Run("ceiling", small, repeat=3),
                Run("ceiling", small, repeat=3, client="crt"),
                Run("bundler", small, repeat=3),
                Run("bundler", small, gzip=True),
                Run("bundler", small, client="boto3"),
                Run("loop", n(300, 100), repeat=2),
                Run("loop", n(300, 100), repeat=2, client="crt"),
            ),
        ),
        Scenario(
            "256k",
            f"{mid} x 256 KiB: {format_size(mid * 256 * KiB)} archive; gzip on and off",
            D256K,
            (
                Run("ceiling", mid),
                Run("ceiling", mid, client="crt"),
                Run("bundler", mid),
                Run("bundler", mid, gzip=True),
                Run("loop", n(100, 40)),
            ),
        ),
        Scenario(
            "8m",
            f"{big} x 8 MiB: the largest objects the bundler still buffers (default --buffer)",
            D8M,
            (
                Run("ceiling", big),
                Run("ceiling", big, client="crt"),
                Run("bundler", big),
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
            f"{n(64, 16)} x 12 MiB: objects above the 8 MiB buffering limit (streaming path)",
            D12M,
            (Run("ceiling", n(64, 16)), Run("bundler", n(64, 16))),
        ),
        Scenario(
            "tagged",
            f"{n(1000, 200)} x 4 KiB with 2 tags each: the tagging GET per tagged object",
            D4K_TAGGED,
            (Run("bundler", n(1000, 200)),),
        ),
    ]
