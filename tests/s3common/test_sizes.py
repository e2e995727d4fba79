"""Human sizes (docs/s3grouper.md: ``123``, ``4K``, ``512MB``, ``4GiB``, ``2GB``; 1024-based)."""

from __future__ import annotations

import argparse

import pytest

from s3common.sizes import GiB, KiB, MiB, TiB, format_size, parse_size, size_arg


def test_units_are_powers_of_1024():
    assert (KiB, MiB, GiB, TiB) == (1024, 1024**2, 1024**3, 1024**4)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("123", 123),
        ("123B", 123),
        ("4K", 4 * KiB),
        ("4k", 4 * KiB),
        ("4KB", 4 * KiB),
        ("4KiB", 4 * KiB),
        ("4kib", 4 * KiB),
        ("512MB", 512 * MiB),
        ("512M", 512 * MiB),
        ("512mb", 512 * MiB),
        ("4GiB", 4 * GiB),
        ("2GB", 2 * GiB),
        ("2g", 2 * GiB),
        ("1T", TiB),
        ("5TiB", 5 * TiB),
        (" 7 M ", 7 * MiB),
        ("007K", 7 * KiB),
        ("99999999999", 99_999_999_999),
    ],
)
def test_valid_sizes(text, value):
    assert parse_size(text) == value
    assert size_arg(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "K",
        "GB",
        "-1",
        "+1",
        "1.5G",
        "1,000",
        "4X",
        "4PB",
        "4P",
        "4 GiBs",
        "0x10",
        "4GG",
        "1e3",
    ],
)
def test_invalid_sizes(text):
    with pytest.raises(ValueError, match="not a size") as err:
        parse_size(text)
    assert repr(text) in str(err.value)
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        size_arg(text)


def test_size_arg_in_a_parser(capsys):
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("-s", type=size_arg)
    assert parser.parse_args(["-s", "4GiB"]).s == 4 * GiB
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["-s", "lots"])
    assert exc.value.code == 2
    assert "not a size" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * MiB, "5.0 MiB"),
        (3 * GiB, "3.0 GiB"),
        (2 * TiB, "2.0 TiB"),
        (4096 * TiB, "4096.0 TiB"),
    ],
)
def test_format_size(n, text):
    assert format_size(n) == text
