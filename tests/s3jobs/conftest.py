"""Fixtures of the s3jobs tests."""

from __future__ import annotations

import uuid

import boto3
import pytest


@pytest.fixture()
def fargate(aws):
    """A cluster, a Fargate grouper task definition and a subnet + security group."""
    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    run = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # moto 5.2 needs DNS hostnames on for awsvpc tasks (as default VPCs have)
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"g-{run}", Description="x", VpcId=vpc)["GroupId"]
    cluster = f"c-{run}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=f"grouper-{run}",
        containerDefinitions=[{"name": "s3grouper", "image": "s3grouper:latest", "memory": 512}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
    return {"cluster": cluster, "task": f"grouper-{run}", "subnet": subnet, "sg": sg}
