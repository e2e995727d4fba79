"""Which inventory rows a grouping run selects, as one definition shared by the grouper and by
``s3bundler reconcile``, which re-reads a job's inventory with the filters its job summary
recorded and must select exactly the rows the grouper did.

- :func:`data_file_tables`: the report's data files, downloaded and verified
  (:mod:`s3grouper.download`), read by the format's reader (:mod:`s3grouper.readers`) into
  normalized tables, in inventory order;
- :func:`filters_from_job`: the :class:`~s3grouper.filters.FilterOptions` a job summary's
  ``options`` describe (the inverse of ``FilterOptions.describe``);
- :class:`Selection`: both together with :class:`~s3grouper.filters.RowFilter`: the selected
  rows of a report, batch by batch, and the skipped ones counted by reason;
- :func:`thresholds_from_job` and :func:`group_numbers`: which sub-manifest each selected row
  went to (the grouper's :class:`~s3grouper.grouping.Grouper`, fed the same sizes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from s3common.errors import InputDataError
from s3common.prefetch import Prefetch
from s3common.s3uri import S3Uri
from s3grouper import readers
from s3grouper.download import DataFiles, load_manifest
from s3grouper.filters import FilterOptions, RowFilter, parse_when
from s3grouper.grouping import Grouper, Thresholds
from s3grouper.inventory import DataFile, InventoryManifest

#: Options of a job summary that decide the grouping, not the selection.
GROUPING_OPTIONS = frozenset({"name", "size_threshold", "count_threshold"})


def data_file_tables(
    manifest: InventoryManifest,
    data_files: DataFiles,
    on_file_done: Callable[[], None] | None = None,
) -> Iterator[pa.Table]:
    """Every row of the report as normalized tables, data file by data file, in manifest
    order (each file downloaded, hashed and read locally; see ``DataFiles.local_copies``)."""
    for _, table in indexed_data_file_tables(manifest, data_files, on_file_done):
        yield table


def indexed_data_file_tables(
    manifest: InventoryManifest,
    data_files: DataFiles,
    on_file_done: Callable[[], None] | None = None,
) -> Iterator[tuple[int, pa.Table]]:
    """:func:`data_file_tables`, each table with the index of its data file in the manifest."""
    with data_files.local_copies() as copies:
        for index, (data_file, path) in enumerate(copies):
            for table in read_data_file(manifest, data_files, data_file, path):
                yield index, table
            if on_file_done is not None:
                on_file_done()


def read_data_file(
    manifest: InventoryManifest, data_files: DataFiles, data_file: DataFile, path: str
) -> Iterator[pa.Table]:
    """One local copy of a data file, read by its format's reader."""
    source = str(data_files.uri(data_file))
    columns, bucket = manifest.columns, manifest.source_bucket
    fmt = manifest.file_format
    if fmt == "CSV":
        gzipped = readers.is_gzip_name(data_file.key)
        return readers.read_csv(path, columns, bucket, source, gzipped=gzipped)
    if fmt == "Parquet":
        return readers.read_parquet(path, columns, bucket, source)
    return readers.read_orc(path, columns, bucket, source)


def filters_from_job(options: Mapping[str, Any], source: object) -> FilterOptions:
    """The filters a job summary's ``options`` record (``FilterOptions.describe`` read back).
    InputDataError naming ``source`` for an option this version does not know (it could select
    other rows) or a value of the wrong kind."""
    known = GROUPING_OPTIONS | set(FilterOptions().describe())
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputDataError(
            f"{source}: unknown grouper option(s) {', '.join(unknown)}: written by a newer "
            "s3grouper, whose selection this version cannot repeat"
        )
    try:
        filters = FilterOptions(
            include=tuple(_strings(options.get("include"))),
            exclude=tuple(_strings(options.get("exclude"))),
            glacier=_flag(options.get("glacier")),
            storage_classes=tuple(_strings(options.get("storage_classes"))),
            min_size=_size(options.get("min_size")),
            max_size=_size(options.get("max_size")),
            modified_since=_when(options.get("modified_since")),
            modified_before=_when(options.get("modified_before")),
            all_versions=_flag(options.get("all_versions")),
            keep_folders=_flag(options.get("keep_folders")),
        )
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{source}: bad grouper options: {exc}") from None
    return filters


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"expected true/false, got {value!r}")
    return value


def _size(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"expected a size in bytes, got {value!r}")
    return value


def _when(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO date-time, got {value!r}")
    return parse_when(value)


def thresholds_from_job(options: Mapping[str, Any]) -> Thresholds | None:
    """The thresholds a job summary records, or None when it records none usable."""
    size, count = options.get("size_threshold"), options.get("count_threshold")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (size, count)):
        return None
    return Thresholds(size=size, count=count)  # type: ignore[arg-type]


def group_numbers(grouper: Grouper, selected: pa.Table) -> pa.Array:
    """The sub-manifest number (int32) of each row of a selected batch, from ``grouper`` fed
    the batches in order, as the grouper feeds them (sizes; null when there is no Size)."""
    segments = grouper.feed(readers.column(selected, "size"))
    parts = [pa.repeat(pa.scalar(s.group, pa.int32()), s.stop - s.start) for s in segments]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.int32())


class Selection:
    """The rows of one inventory report a grouping run with ``filters`` selects.

    :meth:`open` loads and checks manifest.json and the data files exactly as the grouper
    does before it groups; :meth:`tables` then yields the selected rows (normalized tables,
    in inventory order), counting the others in ``row_filter.skipped`` and every row read in
    ``rows``."""

    def __init__(self, s3: Any, manifest: S3Uri, filters: FilterOptions) -> None:
        self.s3 = s3
        self.uri = manifest
        self.filters = filters
        self.rows = 0
        self.selected = 0
        self._manifest: InventoryManifest | None = None
        self._data_files: DataFiles | None = None
        self._filter: RowFilter | None = None

    def open(self) -> InventoryManifest:
        manifest = load_manifest(self.s3, self.uri)
        self.filters.check_fields(manifest.columns, self.uri)
        data_files = DataFiles(self.s3, manifest)
        data_files.verify_all()
        self._manifest, self._data_files = manifest, data_files
        self._filter = RowFilter(self.filters, manifest.columns)
        return manifest

    @property
    def row_filter(self) -> RowFilter:
        if self._filter is None:
            raise RuntimeError("Selection.open() first")
        return self._filter

    def tables(self, on_file_done: Callable[[], None] | None = None) -> Iterator[pa.Table]:
        """The selected rows, batch by batch (read a few batches ahead in a thread)."""
        for _, table in self.indexed_tables(on_file_done):
            yield table

    def indexed_tables(
        self, on_file_done: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, pa.Table]]:
        """:meth:`tables`, each batch with the index of its data file in the manifest (the
        callback runs in the reading thread, so it may count ahead of what was yielded)."""
        if self._manifest is None or self._data_files is None:
            raise RuntimeError("Selection.open() first")
        row_filter = self.row_filter
        source = indexed_data_file_tables(self._manifest, self._data_files, on_file_done)
        with Prefetch(source) as tables:
            for index, table in tables:
                self.rows += table.num_rows
                keep = row_filter.mask(table)
                selected = table if keep is None else table.filter(keep)
                self.selected += selected.num_rows
                if selected.num_rows:
                    yield index, selected
