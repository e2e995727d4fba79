import fnmatch
import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from s3common.errors import UsageError
from s3grouper.filters import FilterOptions, RowFilter, glob_mask, glob_regex, parse_when
from tests.s3grouper.tables import keys, normalized

ALL = ("bucket", "key", "version_id", "is_latest", "is_delete_marker", "size",
       "last_modified_date", "e_tag", "storage_class", "is_multipart_uploaded",
       "intelligent_tiering_access_tier")  # fmt: skip
BASIC = ("bucket", "key", "size", "last_modified_date", "e_tag", "storage_class")


def apply(options, table, available=ALL):
    row_filter = RowFilter(options, available)
    return keys(row_filter.apply(table)), {k: v for k, v in row_filter.skipped.items() if v}


# --- prefixes and globs ----------------------------------------------------------------------


def test_include_prefixes_any_of_them():
    table = normalized({"key": "logs/a"}, {"key": "img/b"}, {"key": "tmp/c"}, {"key": "logsx"})
    got, skipped = apply(FilterOptions(include=("logs/", "img/")), table)
    assert got == ["logs/a", "img/b"]
    assert skipped == {"filtered": 2}


def test_exclude_globs_star_crosses_slashes():
    table = normalized({"key": "a/b/c.tmp"}, {"key": "a.tmp"}, {"key": "a/b/c.txt"},
                       {"key": "x/_temporary/y"})  # fmt: skip
    got, _ = apply(FilterOptions(exclude=("*.tmp", "*/_temporary/*")), table)
    assert got == ["a/b/c.txt"]


def test_exclude_with_character_class_and_question_mark():
    table = normalized({"key": "f1.log"}, {"key": "f2.log"}, {"key": "fa.log"}, {"key": "f10.log"})
    assert apply(FilterOptions(exclude=("f[0-9].log",)), table)[0] == ["fa.log", "f10.log"]
    assert apply(FilterOptions(exclude=("f?.log",)), table)[0] == ["f10.log"]


def test_include_and_exclude_combine():
    table = normalized({"key": "logs/a.gz"}, {"key": "logs/b.tmp"}, {"key": "img/c.gz"})
    got, _ = apply(FilterOptions(include=("logs/",), exclude=("*.tmp",)), table)
    assert got == ["logs/a.gz"]


def test_glob_regex_agrees_with_fnmatch():
    rnd = random.Random(3)
    alphabet = "ab/.*?[]!-^\\$()+{}|\n é"
    keys_ = ["".join(rnd.choice("ab/.x\n é*?[]") for _ in range(rnd.randrange(0, 8)))
             for _ in range(300)]  # fmt: skip
    arr = pa.array(keys_)
    for _ in range(400):
        pattern = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 6)))
        want = [fnmatch.fnmatchcase(k, pattern) for k in keys_]
        assert glob_mask(arr, pattern).to_pylist() == want, pattern


def test_glob_regex_is_anchored_and_literal():
    assert glob_regex("a.b") == r"(?s)\Aa\.b\z"
    assert glob_regex("**x") == r"(?s)\A.*x\z"
    assert glob_regex("[ab]") is None


# --- glacier ---------------------------------------------------------------------------------


GLACIER_TABLE = normalized(
    {"key": "std", "storage_class": "STANDARD"},
    {"key": "gla", "storage_class": "GLACIER"},
    {"key": "deep", "storage_class": "DEEP_ARCHIVE"},
    {"key": "ir", "storage_class": "GLACIER_IR"},
    {"key": "it-freq", "storage_class": "INTELLIGENT_TIERING",
     "intelligent_tiering_access_tier": "FREQUENT"},
    {"key": "it-arch", "storage_class": "INTELLIGENT_TIERING",
     "intelligent_tiering_access_tier": "ARCHIVE_ACCESS"},
    {"key": "it-deep", "storage_class": "INTELLIGENT_TIERING",
     "intelligent_tiering_access_tier": "DEEP_ARCHIVE_ACCESS"},
    {"key": "it-ia", "storage_class": "INTELLIGENT_TIERING",
     "intelligent_tiering_access_tier": "ARCHIVE_INSTANT_ACCESS"},
)  # fmt: skip


def test_normal_mode_leaves_archived_objects_out():
    got, skipped = apply(FilterOptions(), GLACIER_TABLE)
    assert got == ["std", "ir", "it-freq", "it-ia"]
    assert skipped == {"glacier": 4}


def test_glacier_mode_keeps_only_archived_objects():
    got, skipped = apply(FilterOptions(glacier=True), GLACIER_TABLE)
    assert got == ["gla", "deep", "it-arch", "it-deep"]
    assert skipped == {"not_glacier": 4}


def test_without_tier_field_intelligent_tiering_counts_as_not_archived():
    available = tuple(f for f in ALL if f != "intelligent_tiering_access_tier")
    row_filter = RowFilter(FilterOptions(glacier=True), available)
    assert keys(row_filter.apply(GLACIER_TABLE)) == ["gla", "deep"]
    assert "IntelligentTieringAccessTier" in row_filter.notes[0]


def test_glacier_mode_needs_storage_class():
    with pytest.raises(UsageError, match="StorageClass"):
        FilterOptions(glacier=True).check_fields(["bucket", "key", "size"], "s3://b/m.json")


def test_without_storage_class_field_everything_passes_in_normal_mode():
    got, _ = apply(FilterOptions(), GLACIER_TABLE, ("bucket", "key", "size"))
    assert len(got) == 8


# --- storage class, size, dates --------------------------------------------------------------


def test_storage_class_list():
    got, skipped = apply(FilterOptions(storage_classes=("STANDARD", "GLACIER_IR")), GLACIER_TABLE)
    assert got == ["std", "ir"]
    assert skipped == {"glacier": 4, "filtered": 2}


def test_min_and_max_size_are_inclusive():
    table = normalized(*({"key": str(s), "size": s} for s in (0, 9, 10, 20, 21)))
    assert apply(FilterOptions(min_size=10), table)[0] == ["10", "20", "21"]
    assert apply(FilterOptions(max_size=20), table)[0] == ["0", "9", "10", "20"]
    assert apply(FilterOptions(min_size=10, max_size=20), table)[0] == ["10", "20"]


def test_modified_since_inclusive_before_exclusive():
    def at(day):
        return datetime(2024, 1, day, tzinfo=UTC)

    table = normalized(*({"key": str(d), "last_modified_date": at(d)} for d in (1, 10, 20, 30)))
    assert apply(FilterOptions(modified_since=at(10)), table)[0] == ["10", "20", "30"]
    assert apply(FilterOptions(modified_before=at(20)), table)[0] == ["1", "10"]
    both = FilterOptions(modified_since=at(10), modified_before=at(30))
    assert apply(both, table)[0] == ["10", "20"]


def test_parse_when():
    assert parse_when("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_when("2024-01-31T12:30Z") == datetime(2024, 1, 31, 12, 30, tzinfo=UTC)
    assert parse_when("2024-01-31T14:30+02:00") == datetime(2024, 1, 31, 12, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO"):
        parse_when("yesterday")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (FilterOptions(storage_classes=("STANDARD",)), "StorageClass"),
        (FilterOptions(min_size=1), "Size"),
        (FilterOptions(max_size=1), "Size"),
        (FilterOptions(modified_since=datetime(2024, 1, 1, tzinfo=UTC)), "LastModifiedDate"),
        (FilterOptions(modified_before=datetime(2024, 1, 1, tzinfo=UTC)), "LastModifiedDate"),
    ],
)
def test_filter_needing_a_missing_field_is_a_usage_error(options, field):
    with pytest.raises(UsageError, match=field):
        options.check_fields(["bucket", "key"], "s3://b/m.json")
    options.check_fields(ALL, "s3://b/m.json")


# --- versions and folders --------------------------------------------------------------------


VERSIONS = normalized(
    {"key": "a", "version_id": "a2", "is_latest": True},
    {"key": "a", "version_id": "a1", "is_latest": False},
    {"key": "b", "version_id": "b3", "is_latest": True, "is_delete_marker": True, "size": None,
     "e_tag": None},
    {"key": "b", "version_id": "b2", "is_latest": False},
    {"key": "c", "version_id": "c1", "is_latest": False, "is_delete_marker": True, "size": None},
)  # fmt: skip


def test_versions_default_latest_only_and_no_delete_markers():
    row_filter = RowFilter(FilterOptions(), ALL)
    kept = row_filter.apply(VERSIONS)
    assert kept.column("version_id").to_pylist() == ["a2"]
    assert {k: v for k, v in row_filter.skipped.items() if v} == {
        "delete_marker": 2,
        "not_latest": 2,
    }


def test_all_versions_keeps_every_version_but_not_delete_markers():
    row_filter = RowFilter(FilterOptions(all_versions=True), ALL)
    kept = row_filter.apply(VERSIONS)
    assert kept.column("version_id").to_pylist() == ["a2", "a1", "b2"]
    assert row_filter.skipped["delete_marker"] == 2


def test_folders_skipped_unless_kept():
    table = normalized(
        {"key": "dir/", "size": 0},
        {"key": "dir/file", "size": 0},
        {"key": "odd/", "size": 5},
    )
    assert apply(FilterOptions(), table) == (["dir/file", "odd/"], {"folder": 1})
    assert apply(FilterOptions(keep_folders=True), table)[0] == ["dir/", "dir/file", "odd/"]


def test_folders_without_size_field_are_judged_by_the_slash():
    table = normalized({"key": "dir/", "size": None}, {"key": "f", "size": None})
    assert apply(FilterOptions(), table, ("bucket", "key"))[0] == ["f"]


def test_skip_reasons_count_each_row_once_in_order():
    table = normalized(
        {"key": "x/", "size": 0, "is_delete_marker": True},
        {"key": "y/", "size": 0, "is_latest": False},
        {"key": "z/", "size": 0, "storage_class": "GLACIER"},
        {"key": "w", "storage_class": "GLACIER"},
        {"key": "v.tmp"},
        {"key": "u"},
    )
    got, skipped = apply(FilterOptions(exclude=("*.tmp",)), table)
    assert got == ["u"]
    assert skipped == {"delete_marker": 1, "not_latest": 1, "folder": 1, "glacier": 1,
                       "filtered": 1}  # fmt: skip


def test_describe_is_json_ready():
    opts = FilterOptions(include=("a",), modified_since=datetime(2024, 1, 1, tzinfo=UTC))
    described = opts.describe()
    assert described["include"] == ["a"]
    assert described["modified_since"] == "2024-01-01T00:00:00Z"


def test_mask_keeps_what_apply_keeps():
    table = normalized({"key": "a/", "size": 0}, {"key": "b", "storage_class": "GLACIER"},
                       {"key": "c"}, {"key": "d.tmp"})  # fmt: skip
    row_filter = RowFilter(FilterOptions(exclude=("*.tmp",)), ALL)
    assert row_filter.mask(table).to_pylist() == [False, False, True, False]
    assert RowFilter(FilterOptions(keep_folders=True), BASIC).mask(normalized({"key": "a"})) is None
