"""The core stack's outputs (cloudformation/s3bundler_cfn.py), as submitmanifest.py reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

from s3common.aws import AWS_ERRORS, describe
from s3common.errors import UsageError


@dataclass(frozen=True)
class StackOutputs:
    name: str
    values: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str:
        if key in self.values:
            return self.values[key]
        if default is not None:
            return default
        raise UsageError(f"stack {self.name} has no output {key!r}")

    def list(self, key: str) -> list[str]:
        return [v for v in self.values.get(key, "").split(",") if v]


def read_stack(cloudformation: Any, name: str) -> StackOutputs:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except AWS_ERRORS as exc:
        raise UsageError(f"stack {name}: {describe(exc)}") from exc
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return StackOutputs(name, {o["OutputKey"]: o["OutputValue"] for o in outputs})


@dataclass(frozen=True)
class Settings:
    """submitmanifest.py's settings: the flag if given, else the core stack's output (with
    ``--stack``), else a default -- resolved here only."""

    stack: StackOutputs | None = None

    @overload
    def pick(self, flag: str | None, output: str, default: str) -> str: ...

    @overload
    def pick(self, flag: str | None, output: str, default: None = None) -> str | None: ...

    def pick(self, flag: str | None, output: str, default: str | None = None) -> str | None:
        """``flag``, else the stack's ``output``, else ``default``. Without a default, a stack
        lacking the output is a UsageError (and without a stack there is no value: None)."""
        if flag:
            return flag
        if self.stack is not None:
            return self.stack.get(output, default)
        return default

    def pick_list(self, flag: str | None, output: str) -> list[str]:
        """A comma-separated ``flag``, else the stack's comma-separated ``output``, else []."""
        if flag:
            return flag.split(",")
        return self.stack.list(output) if self.stack is not None else []
