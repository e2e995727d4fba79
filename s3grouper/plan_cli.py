"""``s3grouper --plan``: the job an inventory would make and what it costs and saves, from the
inventory alone, with nothing written (docs/costs.md). The grouper's options select and group
as they would for the real run."""

from __future__ import annotations

import argparse
import json
import sys

from s3bundler.archiver import BundlerConfig
from s3common.aws import make_client, make_session
from s3common.prices import load_prices
from s3common.request_options import STORAGE_CLASSES
from s3common.sizes import format_size, size_arg
from s3grouper.grouper import S3_CONNECTIONS, GrouperOptions
from s3grouper.plan_report import plan_document, plan_text
from s3grouper.plan_shape import measure
from s3grouper.selection import Selection

#: The default archive class of a plan: the usual reason to bundle small objects is to archive
#: them (GLACIER and DEEP_ARCHIVE charge 40 KB per object); GLACIER is the one restored in
#: minutes to hours and the per-class table shows the others.
DEFAULT_ARCHIVE_CLASS = "GLACIER"


def add_plan_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("plan (--plan reads the inventory and writes nothing)")
    g.add_argument(
        "--plan", action="store_true",
        help="print the job this inventory would make (objects, sizes, sub-manifests, "
        "archives) and its costs: monthly storage today and after bundling, the one-time "
        "requests, the break-even; -b is not needed",
    )  # fmt: skip
    g.add_argument("--json", action="store_true", help="with --plan: print it as JSON")
    g.add_argument(
        "--archive-class", choices=STORAGE_CLASSES, default=DEFAULT_ARCHIVE_CLASS,
        help="the bundler's --storage-class for archives and copies (default: "
        f"{DEFAULT_ARCHIVE_CLASS})",
    )  # fmt: skip
    g.add_argument(
        "--bundler-maxsize", type=size_arg, default=BundlerConfig.maxsize, metavar="SIZE",
        help="the bundler's --maxsize: bigger objects are copied (default: "
        f"{format_size(BundlerConfig.maxsize)})",
    )  # fmt: skip
    g.add_argument("--prices", metavar="FILE", help="price table overrides (docs/costs.md)")
    g.add_argument(
        "--price-region", metavar="REGION",
        help="price with this region's figures (default: --region, else the environment's)",
    )  # fmt: skip


def run_plan(args: argparse.Namespace, options: GrouperOptions) -> int:
    """Measure the selection and print the plan."""
    session = make_session(options.region, options.profile)
    s3 = make_client(session, "s3", max_pool_connections=S3_CONNECTIONS)
    prices = load_prices(args.price_region or session.region_name, args.prices)
    minimums = dict(prices.rules.get("min_billable_bytes") or {})
    selection = Selection(s3, options.manifest, options.filters)
    shape = measure(
        selection, options.thresholds, args.bundler_maxsize, minimums, prices.lifecycle_min
    )
    doc = plan_document(str(options.manifest), shape, prices, args.archive_class)
    sys.stdout.write(json.dumps(doc, indent=2) + "\n" if args.json else plan_text(doc))
    sys.stdout.flush()
    return 0
