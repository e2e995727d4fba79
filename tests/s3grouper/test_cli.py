from dataclasses import replace
from datetime import UTC, datetime

import pytest

from s3common.errors import ExitCode, S3BundlerError, UsageError
from s3common.sizes import GiB, KiB, MiB
from s3grouper.cli import build_parser, main, make_clients, options_from_args, read_patterns
from s3grouper.grouper import S3_CONNECTIONS, GrouperClients, run_grouper
from s3jobs import inventory_report as fx

M = "s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json"


def options(*argv):
    return options_from_args(build_parser().parse_args(["-m", M, "-b", "out", *argv]))


def test_defaults():
    opts = options()
    assert opts.manifest.bucket == "inv"
    assert (opts.bucket, opts.prefix, opts.name) == ("out", "s3grouper-output", "manifest")
    assert (opts.thresholds.size, opts.thresholds.count) == (4 * GiB, 65000)
    assert opts.filters.include == () and not opts.filters.glacier
    assert opts.output_name == "manifest"


def test_every_flag():
    opts = options(
        "-p", "pre", "-k", "nightly", "-s", "512MB", "-c", "1000", "-i", "a/", "-i", "b/",
        "--exclude", "*.tmp", "-g", "--storage-class", "glacier,DEEP_ARCHIVE",
        "--storage-class", "STANDARD", "--min-size", "1K", "--max-size", "2GiB",
        "--modified-since", "2024-01-01", "--modified-before", "2024-02-01T00:00Z",
        "--all-versions", "--keep-folders", "--force", "--queue", "q", "-r", "eu-west-1",
        "--profile", "p",
    )  # fmt: skip
    f = opts.filters
    assert (opts.prefix, opts.name, opts.output_name) == ("pre", "nightly", "nightly-glacier")
    assert (opts.thresholds.size, opts.thresholds.count) == (512 * MiB, 1000)
    assert f.include == ("a/", "b/") and f.exclude == ("*.tmp",) and f.glacier
    assert f.storage_classes == ("GLACIER", "DEEP_ARCHIVE", "STANDARD")
    assert (f.min_size, f.max_size) == (KiB, 2 * GiB)
    assert f.modified_since == datetime(2024, 1, 1, tzinfo=UTC)
    assert f.modified_before == datetime(2024, 2, 1, tzinfo=UTC)
    assert f.all_versions and f.keep_folders and opts.force
    assert (opts.queue, opts.region, opts.profile) == ("q", "eu-west-1", "p")
    described = opts.describe()
    assert described["name"] == "nightly-glacier" and described["size_threshold"] == 512 * MiB


def test_exclude_from_file(tmp_path):
    path = tmp_path / "excludes"
    path.write_text("# temp files\n*.tmp\n\n   \n  # indented comment\n*/_temporary/*\n")
    assert read_patterns(str(path)) == ["*.tmp", "*/_temporary/*"]
    opts = options("--exclude", "*.bak", "--exclude-from", str(path))
    assert opts.filters.exclude == ("*.bak", "*.tmp", "*/_temporary/*")


def test_exclude_from_missing_file_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read exclude patterns"):
        options("--exclude-from", str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min-size", "2K", "--max-size", "1K"], "--min-size is larger than --max-size"),
        (["--modified-since", "2024-02-01", "--modified-before", "2024-01-01"], "not before"),
        (["--storage-class", ","], "no storage class"),
    ],
)
def test_inconsistent_filters(argv, message):
    with pytest.raises(UsageError, match=message):
        options(*argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-m", M],
        ["-m", "inv/manifest.json", "-b", "out"],
        ["-m", M, "-b", "out", "-s", "lots"],
        ["-m", M, "-b", "out", "-s", "0"],
        ["-m", M, "-b", "out", "-c", "0"],
        ["-m", M, "-b", "out", "-k", "a/b"],
        ["-m", M, "-b", "out", "--modified-since", "yesterday"],
        ["-m", M, "-b", "out", "--bogus"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("s3grouper: error: ")
    assert err.count("\n") == 1


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--size-threshold" in capsys.readouterr().out


def test_clients_are_made_at_the_edge_from_region_and_profile_flags():
    clients = make_clients(options("-r", "eu-west-1", "--queue", "q"))
    assert clients.s3.meta.region_name == "eu-west-1"
    assert clients.s3.meta.config.max_pool_connections == S3_CONNECTIONS
    assert clients.sqs.meta.service_model.service_name == "sqs"
    assert clients.cloudwatch.meta.service_model.service_name == "cloudwatch"
    bare = make_clients(options("-r", "eu-west-1", "--no-metrics"))
    assert (bare.sqs, bare.cloudwatch) == (None, None)
    with pytest.raises(S3BundlerError, match="no-such-profile") as info:
        make_clients(options("--profile", "no-such-profile"))
    assert info.value.exit_code == ExitCode.USAGE


def test_run_grouper_uses_the_clients_it_is_given(s3, bucket, out_bucket):
    manifest = fx.put_inventory(s3, bucket, [{"Key": f"k{n}", "Size": n} for n in range(5)])
    opts = options_from_args(
        build_parser().parse_args(["-m", manifest, "-b", out_bucket, "-c", "2", "--no-metrics"])
    )
    result = run_grouper(opts, GrouperClients(s3=s3))
    assert (result.summary.manifests, result.summary.objects, result.written) == (3, 5, 3)
    with pytest.raises(ValueError, match=r"needs GrouperClients\.sqs"):
        run_grouper(replace(opts, queue="q"), GrouperClients(s3=s3))
    with pytest.raises(ValueError, match=r"needs GrouperClients\.cloudwatch"):
        run_grouper(replace(opts, metrics=True), GrouperClients(s3=s3))
