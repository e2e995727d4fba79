"""What both stack generators share: parameters that double as generator flags, scaling on the
manifest queue's depth, and writing the template.

Run nothing here; ``s3bundler_cfn.py`` and ``s3bundler_spotfleet_cfn.py`` are the entry points.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from troposphere import Parameter, Ref, Template
from troposphere.applicationautoscaling import (
    ScalingPolicy,
    StepAdjustment,
    StepScalingPolicyConfiguration,
)
from troposphere.cloudwatch import Alarm, MetricDataQuery, MetricStat
from troposphere.cloudwatch import Metric as CwMetric
from troposphere.cloudwatch import MetricDimension as CwDimension

#: Lower bounds of the scale-out steps, in messages (visible + in flight). A step [lo, hi)
#: asks for hi - 1 tasks, so there is never less than one task per message below the cap;
#: above the last bound the policy asks for the maximum. 20 is Application Auto Scaling's
#: limit of step adjustments per policy.
STEP_BOUNDS: tuple[int, ...] = (
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
)  # fmt: skip


@dataclass(frozen=True)
class Param:
    """A template parameter whose default a generator flag (``--kebab-name``) can override."""

    name: str
    type: str
    default: str | None
    description: str
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    constraint: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    no_echo: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", self.name).lower()

    def add_to(self, t: Template, default: str | None) -> Parameter:
        kwargs: dict[str, Any] = {"Type": self.type, "Description": self.description}
        if default is not None:
            kwargs["Default"] = default
        if self.allowed:
            kwargs["AllowedValues"] = list(self.allowed)
        if self.pattern is not None:
            kwargs["AllowedPattern"] = self.pattern
        if self.constraint is not None:
            kwargs["ConstraintDescription"] = self.constraint
        if self.min_value is not None:
            kwargs["MinValue"] = self.min_value
        if self.max_value is not None:
            kwargs["MaxValue"] = self.max_value
        kwargs.update(self.extra)
        return t.add_parameter(Parameter(self.name, **kwargs))


def add_param_flags(parser: argparse.ArgumentParser, params: Sequence[Param]) -> None:
    """One ``--kebab-name VALUE`` flag per parameter; it sets that parameter's default."""
    group = parser.add_argument_group(
        "parameter defaults (each sets the Default of the template parameter of that name)"
    )
    for p in params:
        shown = "(required at deploy time)" if p.default is None else f"(default: {p.default!r})"
        group.add_argument(
            p.flag,
            dest=f"param_{p.name}",
            metavar="VALUE",
            help=f"{p.name}: {p.description} {shown}",
        )


def param_defaults(args: argparse.Namespace, params: Sequence[Param]) -> dict[str, str | None]:
    """Each parameter's default: the flag's value if given, else the built-in one."""
    out: dict[str, str | None] = {}
    for p in params:
        given = getattr(args, f"param_{p.name}", None)
        out[p.name] = p.default if given is None else given
    return out


def add_params(
    t: Template, params: Sequence[Param], defaults: dict[str, str | None] | None = None
) -> dict[str, Parameter]:
    defaults = defaults or {}
    return {p.name: p.add_to(t, defaults.get(p.name, p.default)) for p in params}


# --- linter findings the templates suppress ------------------------------------------------

_LOGS_KMS = (
    "CloudWatch Logs encrypts at rest; a KMS key would need a key policy for the logs service, "
    "and the lines hold keys and errors, no object data"
)
_SQS_SSE = (
    "encrypted with SSE-SQS (SqsManagedSseEnabled), which CKV_AWS_27 does not recognise; a "
    "KMS key would need a key policy for S3's notifications"
)

#: Findings suppressed on purpose, by logical id: (linter, check id, reason). Each is written
#: into that resource's Metadata (checkov: ``skip`` with the reason as comment; cfn-lint:
#: ``ignore_checks``, which has no field for a reason); docs/deploy.md gives the same list.
SUPPRESSIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ArchiveBucket": (
        ("checkov", "CKV_AWS_18", "server access logs need a second bucket, chosen by the "
         "account (or CloudTrail S3 data events); the stack does not impose one"),
    ),
    "BundlerLogGroup": (("checkov", "CKV_AWS_158", _LOGS_KMS),),
    "GrouperLogGroup": (("checkov", "CKV_AWS_158", _LOGS_KMS),),
    "ManifestQueue": (("checkov", "CKV_AWS_27", _SQS_SSE),),
    "DeadLetterQueue": (("checkov", "CKV_AWS_27", _SQS_SSE),),
    "AlarmTopic": (
        ("checkov", "CKV_AWS_26", "CloudWatch alarms cannot publish to a topic under the AWS "
         "managed SNS key; the topic carries only alarm state changes"),
    ),
    # cfn-lint resolves Subnets/SecurityGroups to their empty defaults in the awsvpc branch,
    # which only exists under the Fargate condition, where the FargateNeedsNetwork rule refuses
    # empty values (with LaunchType=EC2 the whole NetworkConfiguration is AWS::NoValue).
    "BundlerService": (("cfn-lint", "W1030", "Fargate-only network settings: empty defaults"),),
}  # fmt: skip


def lint_metadata(logical_id: str) -> dict[str, Any]:
    """The Metadata that suppresses ``SUPPRESSIONS[logical_id]`` on that resource."""
    meta: dict[str, Any] = {}
    entries = SUPPRESSIONS[logical_id]
    checkov = [{"id": i, "comment": why} for linter, i, why in entries if linter == "checkov"]
    cfn_lint = [i for linter, i, _ in entries if linter == "cfn-lint"]
    if checkov:
        meta["checkov"] = {"skip": checkov}
    if cfn_lint:
        meta["cfn-lint"] = {"config": {"ignore_checks": cfn_lint}}
    return meta


#: CloudFormation's limit for a template passed inline (aws cloudformation deploy without an
#: S3 bucket); compact JSON keeps both templates under it.
TEMPLATE_BODY_LIMIT = 51_200


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--indent",
        type=int,
        metavar="N",
        help="indent the JSON by N spaces (default: compact, which keeps the template under "
        "CloudFormation's 51,200-byte inline limit)",
    )


def render(t: Template, indent: int | None = None) -> str:
    if indent is None:
        return t.to_json(indent=None, sort_keys=True, separators=(",", ":")) + "\n"
    return t.to_json(indent=indent, sort_keys=True) + "\n"


def write_template(t: Template, args: argparse.Namespace) -> None:
    """Print (or write to ``args.output``) the template as ``args.indent`` asks."""
    text = render(t, args.indent)
    if len(text.encode()) > TEMPLATE_BODY_LIMIT:
        print(
            f"note: the template is {len(text.encode())} bytes, over CloudFormation's "
            f"{TEMPLATE_BODY_LIMIT}-byte inline limit: deploy it through S3 "
            "(aws cloudformation deploy --s3-bucket ...)",
            file=sys.stderr,
        )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


# --- scaling on queue depth ---------------------------------------------------------------


def queue_depth_queries(queue_name: Any, label: str = "messages") -> list[MetricDataQuery]:
    """Metric math: visible + in-flight messages of the queue, 1-minute maximum."""

    def stat(qid: str, metric: str) -> MetricDataQuery:
        return MetricDataQuery(
            Id=qid,
            ReturnData=False,
            MetricStat=MetricStat(
                Metric=CwMetric(
                    Namespace="AWS/SQS",
                    MetricName=metric,
                    Dimensions=[CwDimension(Name="QueueName", Value=queue_name)],
                ),
                Period=60,
                Stat="Maximum",
            ),
        )

    return [
        stat("visible", "ApproximateNumberOfMessagesVisible"),
        stat("inflight", "ApproximateNumberOfMessagesNotVisible"),
        MetricDataQuery(
            Id="total",
            Expression="FILL(visible, 0) + FILL(inflight, 0)",
            Label=label,
            ReturnData=True,
        ),
    ]


def scale_out_steps(maximum: Any, per_unit: int = 1) -> list[StepAdjustment]:
    """ExactCapacity steps for a scale-out alarm whose threshold is 1 message: a step
    [lo, hi) asks for ceil((hi - 1) / per_unit), the last one for ``maximum``. Application Auto
    Scaling clamps every request to the scalable target's MaxCapacity."""
    steps = []
    for lo, hi in itertools.pairwise(STEP_BOUNDS):
        steps.append(
            StepAdjustment(
                MetricIntervalLowerBound=lo - 1,
                MetricIntervalUpperBound=hi - 1,
                ScalingAdjustment=-(-(hi - 1) // per_unit),
            )
        )
    steps.append(
        StepAdjustment(MetricIntervalLowerBound=STEP_BOUNDS[-1] - 1, ScalingAdjustment=maximum)
    )
    return steps


def add_queue_scaling(
    t: Template,
    prefix: str,
    target: Any,
    queue_name: Any,
    maximum: Any,
    idle_minutes: Any,
    what: str,
    per_unit: int = 1,
) -> tuple[ScalingPolicy, ScalingPolicy]:
    """Two step-scaling policies on ``target`` driven by the queue's depth (visible + in
    flight): while there are messages, ExactCapacity grows with them (one unit per
    ``per_unit`` messages, up to ``maximum``); once the queue has been empty for
    ``idle_minutes``, ExactCapacity 0 (or the target's MinCapacity). Alarms with scaling
    actions re-invoke them every period they stay in ALARM, so the capacity follows the depth.
    """

    def exact_capacity(title: str, name: str, steps: list[StepAdjustment]) -> ScalingPolicy:
        return t.add_resource(
            ScalingPolicy(
                f"{prefix}{title}",
                PolicyName=f"{prefix}-{name}",
                PolicyType="StepScaling",
                ScalingTargetId=Ref(target),
                StepScalingPolicyConfiguration=StepScalingPolicyConfiguration(
                    AdjustmentType="ExactCapacity",
                    Cooldown=60,
                    MetricAggregationType="Maximum",
                    StepAdjustments=steps,
                ),
            )
        )

    out = exact_capacity(
        "ScaleOutPolicy", "scale-out-with-queue-depth", scale_out_steps(maximum, per_unit)
    )
    idle = exact_capacity(
        "ScaleInPolicy",
        "scale-in-when-queue-empty",
        [StepAdjustment(MetricIntervalUpperBound=0, ScalingAdjustment=0)],
    )
    t.add_resource(
        Alarm(
            f"{prefix}QueueNotEmptyAlarm",
            AlarmDescription=f"Scales {what} out with the manifest queue's depth "
            "(visible + in-flight messages). Scaling only, not a problem by itself.",
            Metrics=queue_depth_queries(queue_name),
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Threshold=1,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            TreatMissingData="notBreaching",
            AlarmActions=[Ref(out)],
        )
    )
    t.add_resource(
        Alarm(
            f"{prefix}QueueEmptyAlarm",
            AlarmDescription=f"Scales {what} in once the manifest queue has been empty "
            "(no visible or in-flight message) for the idle period. Scaling only.",
            Metrics=queue_depth_queries(queue_name),
            ComparisonOperator="LessThanThreshold",
            Threshold=1,
            EvaluationPeriods=idle_minutes,
            DatapointsToAlarm=idle_minutes,
            TreatMissingData="breaching",
            AlarmActions=[Ref(idle)],
        )
    )
    return out, idle
