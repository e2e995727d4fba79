"""The s3bundler capacity stack: an EC2 Spot Fleet of ECS container instances for the core
stack's cluster, in a new VPC (one public subnet per AZ) or in existing subnets.

    python cloudformation/s3bundler_spotfleet_cfn.py > spotfleet.cfn.json

Instance types are chosen by attributes (vCPU, memory, network bandwidth) with the
capacity-optimized allocation strategy; the AMI is the ECS-optimized Amazon Linux 2023 image
from the public SSM parameter. Instances drain on spot interruption, keep Docker's data on the
instance store when the type has one, and allow no inbound traffic. The fleet's target capacity
follows the core stack's manifest queue (imported from CoreStackName), down to MinInstances
when it has been empty for a while. Needs no AWS access. See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a file (python cloudformation/<stack>.py, as the docs show): import the package
    # beside this file, from the checkout this file is in, rather than any installed copy.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from troposphere import (
    And,
    Base64,
    Cidr,
    Condition,
    Equals,
    GetAtt,
    GetAZs,
    If,
    ImportValue,
    Join,
    Not,
    NoValue,
    Or,
    Output,
    Ref,
    Select,
    Split,
    Sub,
    Tags,
    Template,
    ec2,
)
from troposphere.applicationautoscaling import ScalableTarget
from troposphere.iam import InstanceProfile, Role

from cloudformation.cfn_common import (
    Param,
    add_output_flags,
    add_param_flags,
    add_params,
    add_queue_scaling,
    param_defaults,
    write_template,
)

DEFAULT_MAX_AZS = 6
AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"

PARAMS: tuple[Param, ...] = (
    Param("CoreStackName", "String", "s3bundler",
          "Name of the deployed core stack (s3bundler_cfn.py); its ClusterName and QueueName "
          "exports are imported.", pattern=r"^[A-Za-z][-A-Za-z0-9]*$",
          constraint="a CloudFormation stack name"),
    Param("ImageId", "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", AMI_PARAMETER,
          "SSM parameter holding the AMI: the current ECS-optimized Amazon Linux 2023 image."),
    Param("AzCount", "Number", "3",
          "New VPC only: number of Availability Zones (one public subnet each); the region "
          "must have at least this many."),
    Param("VpcCidr", "String", "10.0.0.0/16",
          "New VPC only: its CIDR block; subnets are /24s of it.",
          pattern=r"^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|20|21)$", constraint="a /16 to /21 CIDR"),
    Param("Subnets", "CommaDelimitedList", "",
          "Existing subnets to use instead of a new VPC (empty: create a VPC). They need a "
          "route to S3, SQS, ECR, ECS and CloudWatch (public IP or NAT/endpoints)."),
    Param("VpcId", "String", "", "Existing subnets only: their VPC (for the security group)."),
    Param("MinVCpus", "Number", "2", "Smallest instance type: vCPUs.", min_value=1),
    Param("MaxVCpus", "Number", "8", "Largest instance type: vCPUs.", min_value=1),
    Param("MinMemoryMiB", "Number", "8192",
          "Smallest instance type: memory (must hold a grouper task).", min_value=1024),
    Param("MinNetworkGbps", "Number", "1",
          "Smallest baseline network bandwidth of an instance type, Gbit/s."),
    Param("MinInstances", "Number", "0", "Fewest instances (0: none while the queue is empty).",
          min_value=0),
    Param("MaxInstances", "Number", "4", "Most instances the fleet scales out to.",
          min_value=1, max_value=1000),
    Param("InitialInstances", "Number", "1",
          "Target capacity at creation; scaling takes over from there.", min_value=1),
    Param("ScaleInIdleMinutes", "Number", "15",
          "Minutes the queue must stay empty before the fleet shrinks to MinInstances (longer "
          "than the bundler service's, so tasks stop first).", min_value=1, max_value=60),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Print the s3bundler spot-fleet CloudFormation template (JSON) on stdout.",
    )
    add_output_flags(p)
    p.add_argument(
        "--max-azs",
        type=int,
        default=DEFAULT_MAX_AZS,
        metavar="N",
        help=f"most subnets the template can hold (AzCount's upper bound; default "
        f"{DEFAULT_MAX_AZS})",
    )
    p.add_argument(
        "--tasks-per-instance",
        type=int,
        default=2,
        metavar="N",
        help="bundler tasks one instance is expected to hold: the fleet asks for one instance "
        "per N queued manifests (default 2)",
    )
    add_param_flags(p, PARAMS)
    return p


def user_data(cluster: Any) -> Base64:
    """Join the cluster with spot draining on; put /var/lib/docker on the instance store (one
    NVMe device, or RAID 0 over several) when the instance type has one."""
    lines = [
        "#!/bin/bash",
        "set -euxo pipefail",
        "cat >> /etc/ecs/ecs.config <<'EOF'",
        Join("", ["ECS_CLUSTER=", cluster]),
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
        "ECS_CONTAINER_STOP_TIMEOUT=60s",
        "EOF",
        'disks=""',
        "for dev in /dev/nvme*n1; do",
        '  [ -b "$dev" ] || continue',
        '  model=$(cat "/sys/block/$(basename "$dev")/device/model" 2>/dev/null || true)',
        '  case "$model" in *"Instance Storage"*) disks="$disks $dev";; esac',
        "done",
        'if [ -n "$disks" ]; then',
        "  set -- $disks",
        "  systemctl stop ecs docker.socket docker || true",
        '  if [ "$#" -eq 1 ]; then',
        '    target="$1"',
        "  else",
        "    dnf install -y mdadm",
        '    mdadm --create /dev/md0 --run --level=0 --raid-devices="$#" "$@"',
        "    target=/dev/md0",
        "  fi",
        '  mkfs.xfs -f "$target"',
        "  rm -rf /var/lib/docker && mkdir -p /var/lib/docker",
        '  mount -o noatime "$target" /var/lib/docker',
        "  systemctl start docker",
        "  systemctl start --no-block ecs",
        "fi",
    ]
    return Base64(Join("\n", [*lines, ""]))


def padded_subnets(count: int) -> Split:
    """The Subnets parameter followed by ``count`` empty strings, so that element i exists
    (empty when fewer subnets were given) and a condition can test it."""
    return Split(",", Join(",", [Join(",", Ref("Subnets")), *([""] * count)]))


def _conditions(t: Template, max_azs: int) -> None:
    no_subnets = Equals(Select(0, Ref("Subnets")), "")
    t.add_condition("CreateVpc", no_subnets)
    for i in range(1, max_azs):
        counts = [Equals(Ref("AzCount"), str(n)) for n in range(1, i + 1)]
        t.add_condition(f"Az{i}", Not(counts[0] if len(counts) == 1 else Or(*counts)))
    padded = padded_subnets(max_azs)
    for i in range(max_azs):
        create = no_subnets if i == 0 else And(Condition("CreateVpc"), Condition(f"Az{i}"))
        t.add_condition(f"CreateSubnet{i}", create)
        t.add_condition(
            f"UseSubnet{i}",
            Or(
                Condition(f"CreateSubnet{i}"),
                And(Not(Condition("CreateVpc")), Not(Equals(Select(i, padded), ""))),
            ),
        )
    t.add_rule(
        "ExistingSubnetsNeedVpc",
        {
            "RuleCondition": Not({"Fn::Contains": [Ref("Subnets"), ""]}),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref("VpcId"), "")),
                    "AssertDescription": "Subnets given: VpcId is needed too",
                }
            ],
        },
    )


def _network(t: Template, max_azs: int) -> tuple[list[Any], ec2.SecurityGroup]:
    """A VPC with one public subnet per AZ (or the given subnets) and an inbound-closed SG.

    Returns one subnet-id expression per possible subnet (use under UseSubnet<i>)."""
    vpc = t.add_resource(
        ec2.VPC(
            "Vpc",
            Condition="CreateVpc",
            CidrBlock=Ref("VpcCidr"),
            EnableDnsHostnames=True,
            EnableDnsSupport=True,
            Tags=Tags(Name=Sub("${AWS::StackName}")),
        )
    )
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Condition="CreateVpc"))
    attach = t.add_resource(
        ec2.VPCGatewayAttachment(
            "InternetGatewayAttachment",
            Condition="CreateVpc",
            VpcId=Ref(vpc),
            InternetGatewayId=Ref(igw),
        )
    )
    routes = t.add_resource(
        ec2.RouteTable("PublicRouteTable", Condition="CreateVpc", VpcId=Ref(vpc))
    )
    t.add_resource(
        ec2.Route(
            "DefaultRoute",
            Condition="CreateVpc",
            DependsOn=[attach],
            RouteTableId=Ref(routes),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(igw),
        )
    )
    # S3 traffic (all of the bundler's bytes) stays on the gateway endpoint: free, no IGW hop.
    t.add_resource(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            Condition="CreateVpc",
            VpcId=Ref(vpc),
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            VpcEndpointType="Gateway",
            RouteTableIds=[Ref(routes)],
        )
    )
    padded = padded_subnets(max_azs)
    subnet_ids = []
    for i in range(max_azs):
        subnet = t.add_resource(
            ec2.Subnet(
                f"PublicSubnet{i}",
                Condition=f"CreateSubnet{i}",
                VpcId=Ref(vpc),
                AvailabilityZone=Select(i, GetAZs("")),
                CidrBlock=Select(i, Cidr(Ref("VpcCidr"), str(max_azs), "8")),
                MapPublicIpOnLaunch=True,
                Tags=Tags(Name=Sub("${AWS::StackName}-public-" + str(i))),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PublicSubnet{i}Routes",
                Condition=f"CreateSubnet{i}",
                SubnetId=Ref(subnet),
                RouteTableId=Ref(routes),
            )
        )
        subnet_ids.append(If(f"CreateSubnet{i}", Ref(subnet), Select(i, padded)))
    sg = t.add_resource(
        ec2.SecurityGroup(
            "InstanceSecurityGroup",
            GroupDescription="s3bundler container instances: no inbound, all outbound",
            VpcId=If("CreateVpc", Ref(vpc), Ref("VpcId")),
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(IpProtocol="-1", CidrIp="0.0.0.0/0", Description="all")
            ],
            Tags=Tags(Name=Sub("${AWS::StackName}-instances")),
        )
    )
    return subnet_ids, sg


def _roles(t: Template) -> tuple[InstanceProfile, Role]:
    def trust(service: str) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }

    instance_role = t.add_resource(
        Role(
            "InstanceRole",
            AssumeRolePolicyDocument=trust("ec2.amazonaws.com"),
            ManagedPolicyArns=[
                Sub(
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonEC2ContainerServiceforEC2Role"
                )
            ],
        )
    )
    profile = t.add_resource(InstanceProfile("InstanceProfile", Roles=[Ref(instance_role)]))
    fleet_role = t.add_resource(
        Role(
            "SpotFleetRole",
            AssumeRolePolicyDocument=trust("spotfleet.amazonaws.com"),
            ManagedPolicyArns=[
                Sub(
                    "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonEC2SpotFleetTaggingRole"
                )
            ],
        )
    )
    return profile, fleet_role


def build_template(
    defaults: dict[str, str | None] | None = None,
    max_azs: int = DEFAULT_MAX_AZS,
    tasks_per_instance: int = 2,
) -> Template:
    """The capacity stack. ``defaults`` overrides parameter defaults by parameter name."""
    if max_azs < 1:
        raise ValueError("max_azs must be at least 1")
    if tasks_per_instance < 1:
        raise ValueError("tasks_per_instance must be at least 1")
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        "s3bundler capacity: EC2 Spot Fleet (attribute-based instance types, capacity-optimized) "
        "of ECS container instances for the core stack's cluster, scaled with its queue"
    )
    params = [
        p if p.name != "AzCount" else Param(
            p.name, p.type, p.default, p.description,
            allowed=tuple(str(n) for n in range(1, max_azs + 1)),
        )
        for p in PARAMS
    ]  # fmt: skip
    defaults = dict(defaults or {})
    if defaults.get("AzCount") and int(str(defaults["AzCount"])) > max_azs:
        defaults["AzCount"] = str(max_azs)
    add_params(t, params, defaults)
    _conditions(t, max_azs)

    cluster = ImportValue(Sub("${CoreStackName}-ClusterName"))
    queue_name = ImportValue(Sub("${CoreStackName}-QueueName"))
    subnet_ids, sg = _network(t, max_azs)
    profile, fleet_role = _roles(t)
    template = t.add_resource(
        ec2.LaunchTemplate(
            "InstanceLaunchTemplate",
            LaunchTemplateData=ec2.LaunchTemplateData(
                ImageId=Ref("ImageId"),
                IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
                SecurityGroupIds=[Ref(sg)],
                UserData=user_data(cluster),
                # IMDSv2 only, one hop: containers (bridge network) cannot reach the instance
                # role; tasks use their task roles.
                MetadataOptions=ec2.MetadataOptions(
                    HttpTokens="required", HttpPutResponseHopLimit=1
                ),
                BlockDeviceMappings=[
                    ec2.LaunchTemplateBlockDeviceMapping(
                        DeviceName="/dev/xvda",
                        Ebs=ec2.EBSBlockDevice(VolumeType="gp3", VolumeSize=30, Encrypted=True),
                    )
                ],
                TagSpecifications=[
                    ec2.TagSpecifications(
                        ResourceType="instance",
                        Tags=Tags(Name=Sub("${CoreStackName}-container-instance")),
                    )
                ],
            ),
        )
    )
    requirements = ec2.InstanceRequirementsRequest(
        VCpuCount=ec2.VCpuCountRangeRequest(Min=Ref("MinVCpus"), Max=Ref("MaxVCpus")),
        MemoryMiB=ec2.MemoryMiBRequest(Min=Ref("MinMemoryMiB")),
        NetworkBandwidthGbps=ec2.NetworkBandwidthGbpsRequest(Min=Ref("MinNetworkGbps")),
        AcceleratorCount=ec2.AcceleratorCountRequest(Max=0),
        BareMetal="excluded",
        BurstablePerformance="excluded",
        InstanceGenerations=["current"],
        LocalStorage="included",
    )
    overrides = [
        If(
            f"UseSubnet{i}",
            ec2.LaunchTemplateOverrides(SubnetId=subnet_id, InstanceRequirements=requirements),
            NoValue,
        )
        for i, subnet_id in enumerate(subnet_ids)
    ]
    fleet = t.add_resource(
        ec2.SpotFleet(
            "SpotFleet",
            SpotFleetRequestConfigData=ec2.SpotFleetRequestConfigData(
                IamFleetRole=GetAtt(fleet_role, "Arn"),
                AllocationStrategy="capacityOptimized",
                TargetCapacity=Ref("InitialInstances"),
                Type="maintain",
                InstanceInterruptionBehavior="terminate",
                ReplaceUnhealthyInstances=True,
                TerminateInstancesWithExpiration=True,
                SpotMaintenanceStrategies=ec2.SpotMaintenanceStrategies(
                    CapacityRebalance=ec2.SpotCapacityRebalance(ReplacementStrategy="launch")
                ),
                LaunchTemplateConfigs=[
                    ec2.LaunchTemplateConfigs(
                        LaunchTemplateSpecification=ec2.FleetLaunchTemplateSpecification(
                            LaunchTemplateId=Ref(template),
                            Version=GetAtt(template, "LatestVersionNumber"),
                        ),
                        Overrides=overrides,
                    )
                ],
            ),
        )
    )
    target = t.add_resource(
        ScalableTarget(
            "FleetScalableTarget",
            ServiceNamespace="ec2",
            ScalableDimension="ec2:spot-fleet-request:TargetCapacity",
            ResourceId=Join("/", ["spot-fleet-request", Ref(fleet)]),
            MinCapacity=Ref("MinInstances"),
            MaxCapacity=Ref("MaxInstances"),
        )
    )
    add_queue_scaling(
        t, "Fleet", target, queue_name, Ref("MaxInstances"), Ref("ScaleInIdleMinutes"),
        "the spot fleet", per_unit=tasks_per_instance,
    )  # fmt: skip
    t.add_output(Output("SpotFleetRequestId", Value=Ref(fleet), Description="spot fleet request"))
    t.add_output(
        Output("SecurityGroup", Value=Ref(sg), Description="instance security group (no inbound)")
    )
    t.add_output(
        Output(
            "VpcId",
            Value=If("CreateVpc", Ref("Vpc"), Ref("VpcId")),
            Description="VPC of the container instances",
        )
    )
    return t


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_azs < 1 or args.tasks_per_instance < 1:
        parser.error("--max-azs and --tasks-per-instance must be at least 1")
    template = build_template(param_defaults(args, PARAMS), args.max_azs, args.tasks_per_instance)
    write_template(template, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
