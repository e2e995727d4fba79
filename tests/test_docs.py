"""The project's docs match its code: docs/formats.md names every contract the parts share,
the README's module map names every module of the worker, nothing cites a file outside the
repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from s3bundler import dlq
from s3bundler.archiver import ManifestResult
from s3bundler.counts import Counts
from s3bundler.dlq import DLQ_COLUMNS
from s3bundler.index import INDEX_COLUMNS
from s3bundler.layout import ManifestOutputs
from s3common.metrics import NAMESPACE
from s3common.s3uri import S3Uri
from s3common.submanifest import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
FORMATS = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")


def test_formats_lists_every_column_and_reason():
    assert ",".join(COLUMNS) in FORMATS
    assert ",".join(INDEX_COLUMNS) in FORMATS
    assert ",".join(DLQ_COLUMNS) in FORMATS
    for reason in dlq.REASONS:
        assert f"`{reason}`" in FORMATS


def test_formats_lists_the_metrics_the_worker_publishes():
    values, by_reason = Counts(errors={"NoSuchKey": 1}).metric_data(1.0)  # type: ignore[arg-type]
    for name in [*values, *(k[0] for k in by_reason)]:
        assert f"`{name}`" in FORMATS
    assert f"Namespace `{NAMESPACE}`" in FORMATS


def test_formats_gives_the_manifest_done_fields_in_order():
    outputs = ManifestOutputs("a", "k.tar", "k.index", S3Uri("m", "x.dlq"))
    fields = ManifestResult(S3Uri("m", "x"), outputs, Counts(), 1.0).log_fields()
    row = next(line for line in FORMATS.splitlines() if line.startswith("| `manifest_done`"))
    assert f"`{' '.join(fields)}`" in row


def test_formats_lists_every_output_of_the_core_stack():
    from cloudformation import s3bundler_cfn

    template = s3bundler_cfn.build_template(
        s3bundler_cfn.param_defaults(
            s3bundler_cfn.build_parser().parse_args([]), s3bundler_cfn.PARAMS
        )
    )
    for name in template.outputs:
        assert f"`{name}`" in FORMATS, f"stack output {name} is not in docs/formats.md"


def test_the_readme_module_map_names_every_worker_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "s3bundler").glob("*.py")):
        if path.name in ("__init__.py", "__main__.py", "cli.py", "errors.py"):
            continue
        assert f"`{path.name}`" in readme or f"`s3bundler/{path.name}`" in readme, path.name


def _project_files(suffix: str) -> list[Path]:
    return [
        path
        for path in ROOT.rglob(f"*{suffix}")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    ]


#: A document reached by climbing out of the repository, or a bare ``name.md`` (no directory:
#: a document meant to sit beside this one); a path with directories names a file of another
#: project.
CLIMBS_OUT = re.compile(r"(?<![\w.])\.\./(?:[\w.-]+/)*[\w.-]+\.md\b")
BARE_MD = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")


@pytest.mark.parametrize("suffix", [".py", ".md", ".toml", ".sh"])
def test_nothing_cites_a_file_outside_the_repository(suffix):
    documents = {path.name for path in _project_files(".md")}
    for path in _project_files(suffix):
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not CLIMBS_OUT.search(text), path
        cited = {m.group(1) for m in BARE_MD.finditer(text)}
        assert cited <= documents, (path, sorted(cited - documents))
