"""Resolve a generated template's intrinsic functions for given parameter values, so tests can
check concrete ARNs, commands and conditions instead of nested Fn:: trees.

Covers the functions the generators use. Resources resolve to placeholders (``<Ref Queue>``,
``<Queue.Arn>``) unless the caller maps them to real values (e.g. from a deployed stack).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

NO_VALUE = object()

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "s3b",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s3b/"
    "0f0e0d0c-1111-2222-3333-444455556666",
    "AWS::NoValue": NO_VALUE,
}


class Evaluator:
    def __init__(
        self,
        template: dict[str, Any],
        params: dict[str, str] | None = None,
        *,
        pseudo: dict[str, Any] | None = None,
        refs: dict[str, Any] | None = None,
        attrs: dict[tuple[str, str], Any] | None = None,
        imports: dict[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.pseudo = {**PSEUDO, **(pseudo or {})}
        self.refs = refs or {}
        self.attrs = attrs or {}
        self.imports = imports or {}
        self.params: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = (params or {}).get(name, spec.get("Default"))
            if raw is None:
                raise KeyError(f"parameter {name} has no default and no value")
            if spec["Type"] == "CommaDelimitedList" or spec["Type"].startswith("List<"):
                self.params[name] = str(raw).split(",")
            else:
                self.params[name] = str(raw)
        self._conditions: dict[str, bool] = {}

    # --- conditions ----------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def resource_exists(self, logical_id: str) -> bool:
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # --- values --------------------------------------------------------------------------
    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            fn = _FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        out = {}
        for k, v in node.items():
            resolved = self.value(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.template.get("Resources", {}):
            return f"<Ref {name}>"
        raise KeyError(f"Ref to unknown {name}")

    def get_att(self, arg: Any) -> Any:
        logical_id, attr = arg.split(".", 1) if isinstance(arg, str) else arg
        if (logical_id, attr) in self.attrs:
            return self.attrs[(logical_id, attr)]
        if logical_id not in self.template["Resources"]:
            raise KeyError(f"GetAtt of unknown resource {logical_id}")
        return f"<{logical_id}.{attr}>"

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {k: self.value(v) for k, v in variables.items()}

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                return str(self.get_att(name))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", repl, text)


def _join(ev: Evaluator, arg: Any) -> str:
    delimiter, items = arg
    return delimiter.join(str(v) for v in ev.value(items))


def _split(ev: Evaluator, arg: Any) -> list[str]:
    delimiter, text = arg
    return str(ev.value(text)).split(delimiter)


def _select(ev: Evaluator, arg: Any) -> Any:
    index, items = arg
    return ev.value(items)[int(ev.value(index))]


def _if(ev: Evaluator, arg: Any) -> Any:
    name, yes, no = arg
    return ev.value(yes if ev.condition(name) else no)


def _cidr(ev: Evaluator, arg: Any) -> list[str]:
    block, count, bits = (ev.value(a) for a in arg)
    net = ipaddress.ip_network(block)
    return [str(s) for s in list(net.subnets(new_prefix=32 - int(bits)))[: int(count)]]


def _get_azs(ev: Evaluator, arg: Any) -> list[str]:
    region = ev.value(arg) or ev.pseudo["AWS::Region"]
    return [f"{region}{c}" for c in "abcdef"]


def _import(ev: Evaluator, arg: Any) -> Any:
    name = ev.value(arg)
    return ev.imports.get(name, f"<import {name}>")


_FUNCTIONS = {
    "Ref": lambda ev, a: ev.ref(a),
    "Fn::GetAtt": Evaluator.get_att,
    "Fn::Sub": Evaluator.sub,
    "Fn::Join": _join,
    "Fn::Split": _split,
    "Fn::Select": _select,
    "Fn::If": _if,
    "Fn::Equals": lambda ev, a: ev.value(a[0]) == ev.value(a[1]),
    "Fn::Not": lambda ev, a: not ev.value(a[0]),
    "Fn::And": lambda ev, a: all(ev.value(c) for c in a),
    "Fn::Or": lambda ev, a: any(ev.value(c) for c in a),
    "Fn::Contains": lambda ev, a: ev.value(a[1]) in ev.value(a[0]),
    "Condition": lambda ev, a: ev.condition(a),
    "Fn::Cidr": _cidr,
    "Fn::GetAZs": _get_azs,
    "Fn::ImportValue": _import,
    "Fn::Base64": lambda ev, a: ev.value(a),
}
