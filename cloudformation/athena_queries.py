"""The SQL the core stack saves as Athena named queries over its Glue tables (docs/catalog.md).

One home for the text: ``core_athena`` puts it in the template as is, and
tests/sql/test_queries.py runs the very same strings on DuckDB over catalog files written by
``s3bundler.catalog``. They name the tables of the stack's Glue database unqualified (each
named query runs in that database): ``catalog`` (the bundler's catalog, partitioned by source
``bucket``) and ``inventory`` (an S3 Inventory report, partitioned by ``dt``). ``?`` are
parameters, filled in order: the Athena console asks for them when a saved query is run, and
``aws athena start-query-execution --execution-parameters`` passes them (strings quoted, e.g.
``"'my-bucket'"``).

Kept compact (one clause a line, no indentation): the template must stay well under
CloudFormation's inline limit. The catalog's ``version_id`` is ``''`` for an object without one
(docs/formats.md, "Catalog"); an inventory has null there, hence the ``coalesce``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedQuery:
    logical_id: str
    name: str
    description: str
    sql: str


WHERE_IS = NamedQuery(
    "WhereIsQuery",
    "s3bundler: where is this key",
    "Every catalog row of one object (all its versions): archived (archive, member, offset), "
    "copied (copy) or failed (reason). Parameters: source bucket, key.",
    """SELECT bucket, key, version_id, status, archive, member, "offset", size, md5, crc32c, \
"copy", reason, detail, manifest
FROM catalog
WHERE bucket = ? AND key = ?
ORDER BY version_id, manifest""",
)

UNACCOUNTED = NamedQuery(
    "UnaccountedQuery",
    "s3bundler: inventory objects not accounted for",
    "Objects (delete markers aside) of one inventory report under a key prefix with no "
    "catalog row: never archived, copied or failed. Parameters: dt (e.g. 2024-01-31-01-00), "
    "key prefix ('' for all).",
    """SELECT i.bucket, i.key, i.version_id, i.size, i.last_modified_date, i.storage_class
FROM inventory i
LEFT JOIN catalog c ON c.bucket = i.bucket AND c.key = i.key \
AND c.version_id = coalesce(i.version_id, '')
WHERE i.dt = ? AND starts_with(i.key, ?) AND NOT coalesce(i.is_delete_marker, false)
AND c.key IS NULL
ORDER BY i.bucket, i.key, i.version_id""",
)

FAILURES = NamedQuery(
    "FailuresQuery",
    "s3bundler: failures by reason",
    "Objects that failed, by source bucket and reason (the DLQ reasons of docs/formats.md), "
    "with their bytes and one example key.",
    """SELECT bucket, reason, count(*) AS objects, sum(size) AS bytes, min(key) AS example_key
FROM catalog
WHERE status = 'failed'
GROUP BY bucket, reason
ORDER BY objects DESC, bucket, reason""",
)

DUPLICATES = NamedQuery(
    "DuplicatesQuery",
    "s3bundler: objects in two places",
    "Object versions archived or copied more than once (a manifest in two jobs, a key in two "
    "sub-manifests), with every archive or copy holding them.",
    """SELECT bucket, key, version_id, count(*) AS places, \
array_agg(coalesce(archive, "copy") ORDER BY manifest) AS locations
FROM catalog
WHERE status IN ('archived', 'copied')
GROUP BY bucket, key, version_id
HAVING count(*) > 1
ORDER BY bucket, key, version_id""",
)

#: The named queries, in the order docs/catalog.md gives them.
QUERIES: tuple[NamedQuery, ...] = (WHERE_IS, UNACCOUNTED, FAILURES, DUPLICATES)
