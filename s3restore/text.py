"""Keys as text: one line each, whatever they hold (docs/restore.md, "ls").

A key is shown as it is unless it holds a control character (U+0000-U+001F, U+007F-U+009F,
U+2028-U+2029: newline, tab, ...) or begins with a double quote; then it is shown as a JSON
string (in double quotes, ``\\n``-style escapes), so a line that begins with ``"`` is JSON and
any other line is the key itself.
"""

from __future__ import annotations

import json
import re

_NEEDS_QUOTES = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029]|^"')
_NOT_ESCAPED_BY_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def quote_key(key: str) -> str:
    """``key`` as one line of text that can be read back exactly (:func:`unquote_key`)."""
    if _NEEDS_QUOTES.search(key):
        text = json.dumps(key, ensure_ascii=False)
        return _NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return key


def unquote_key(line: str) -> str:
    """The key of a line written by :func:`quote_key`."""
    return json.loads(line) if line.startswith('"') else line


def object_uri(bucket: str, key: str, version_id: str = "") -> str:
    """``s3://bucket/key`` for a message (the key quoted as above), with ``?versionId=`` when
    there is one."""
    uri = f"s3://{bucket}/{quote_key(key)}"
    return f"{uri}?versionId={version_id}" if version_id else uri
