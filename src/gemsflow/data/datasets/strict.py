"""Exact parsing of user files: text encodings, CSV layout, integer codes and weights.

Every value is read exactly or rejected with an :class:`InputDataError` that names the file, the row
(individual id), the column, the value and the fix. Nothing is truncated (``2.5`` is not code 2), nothing
is turned into a missing value (``abc`` is not blank) and no placeholder code stands in for a bad cell.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.errors import InputDataError

# Byte-order marks of encodings other than UTF-8 (UTF-32 first: its LE mark starts like UTF-16 LE).
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32LE"),
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16BE"),
)
_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _convert_fix(path: Path, encoding: str) -> str:
    return (
        f"save the file as UTF-8, e.g. `iconv -f {encoding} -t UTF-8 {path.name} > utf8.tmp && "
        f"mv utf8.tmp {path.name}`"
    )


def read_text(path: Path, kind: str) -> str:
    """The file's text: UTF-8 (a UTF-8 byte-order mark is accepted), else an error naming the encoding."""
    if not path.exists():
        raise InputDataError(
            path, None, f"{kind} file not found", "check the dataset's dir and prefix in the config"
        )
    raw = path.read_bytes()
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise InputDataError(
                path,
                None,
                f"file is {encoding} encoded (byte-order mark found)",
                _convert_fix(path, encoding),
            )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\x00" in raw[:200]:
            guess = "UTF-16 (no byte-order mark)"
            encoding = "UTF-16"
        else:
            guess, encoding = "probably Windows-1252/Latin-1", "WINDOWS-1252"
        raise InputDataError(
            path,
            None,
            f"file is not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start}; {guess})",
            _convert_fix(path, encoding),
        ) from exc
    if "\x00" in text[:4096]:
        # UTF-16 text without a byte-order mark decodes as UTF-8 with a NUL after every ASCII letter;
        # read on, every column name would be wrong and the error would be "column missing".
        raise InputDataError(
            path,
            None,
            "file holds NUL bytes: it is UTF-16 without a byte-order mark, not UTF-8",
            _convert_fix(path, "UTF-16LE"),
        )
    return text


def read_json_strict(path: Path, kind: str) -> Any:
    text = read_text(path, kind)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputDataError(
            path, None, f"not valid JSON ({exc.msg} at line {exc.lineno})", "repair the file"
        ) from exc


def read_csv_strict(path: Path) -> pd.DataFrame:
    """All cells as text (blank -> missing, nothing else), after checking delimiter and header."""
    text = read_text(path, "responses table")
    first_line = text.split("\n", 1)[0].rstrip("\r")
    header = next(csv.reader([first_line]), [])
    if len(header) <= 1:
        for delimiter, name in _DELIMITERS.items():
            if delimiter in first_line:
                raise InputDataError(
                    path,
                    None,
                    f"the header row is separated by {name}s ({delimiter!r}), not commas",
                    "save the table as comma-separated CSV (e.g. pandas: "
                    f"pd.read_csv(path, sep={delimiter!r}).to_csv(path, index=False))",
                )
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputDataError(
                path, column, "column appears twice in the header", "keep one column per question"
            )
        seen.add(column)
    _check_row_lengths(text, path, len(header))
    return pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], low_memory=False
    )


def _check_row_lengths(text: str, path: Path, width: int) -> None:
    """Every row has the header's number of fields: pandas would read a short row's missing cells as
    unanswered questions and stop at a long one with a message that names no file."""
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if row and len(row) != width:
            what = "fewer" if len(row) < width else "more"
            raise InputDataError(
                path,
                None,
                f"line {number} has {len(row)} fields, {what} than the header's {width}",
                "repair that line (a cut-off row, or a comma inside an unquoted value)",
            )


# Codes are option numbers; beyond this they cannot be stored as integers and cannot be any option.
MAX_CODE = 2**31 - 1
# Survey weights beyond this overflow the weighted sums of scoring.
MAX_WEIGHT = 1e15


def parse_codes(
    values: pd.Series,
    ids: pd.Series,
    rows: pd.Series,
    path: Path,
    column: str | pd.Series,
    fix: str,
) -> pd.Series:
    """Integer codes from text cells (``7`` or ``7.0``); blanks stay missing (nullable Int64).

    ``column`` is one name or, for long tables, a Series of names aligned with ``values``.
    """
    present = values.notna()
    numbers = pd.to_numeric(values.where(present), errors="coerce")
    as_float = numbers.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(as_float) & (np.abs(np.nan_to_num(as_float)) <= MAX_CODE)
    integral = finite & (as_float % 1 == 0)
    bad = present.to_numpy() & ~integral
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        col = column if isinstance(column, str) else str(column.iloc[first])
        raise InputDataError(
            path,
            col,
            f"row {int(rows.iloc[first])} (individual {ids.iloc[first]}): value "
            f"{values.iloc[first]!r} is not an integer code up to {MAX_CODE} ({int(bad.sum())} "
            "such cell(s) in the table)",
            fix,
        )
    return numbers.astype("Int64")


def parse_weights(
    table: pd.DataFrame, column: str, id_column: str, path: Path, first_row: int = 2
) -> pd.Series:
    """Survey weights: finite numbers > 0. A blank weight is an error (there is no silent default).
    ``first_row``: the number the file's first data row goes by (2 in a CSV, after its header)."""
    cells = table[column]
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~(np.isfinite(numbers) & (numbers > 0) & (numbers <= MAX_WEIGHT))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = cells.iloc[first]
        what = (
            "is blank"
            if pd.isna(value)
            else f"{value!r} is not a finite number > 0 and at most {MAX_WEIGHT:g}"
        )
        raise InputDataError(
            path,
            column,
            f"row {first + first_row} (individual {table[id_column].iloc[first]}): weight {what} "
            f"({int(bad.sum())} such cell(s))",
            "give every person a positive weight, or set weight_column: null in the dataset's "
            "config entry to weigh everyone 1",
        )
    return pd.Series(numbers, index=table[id_column].to_numpy())


def option_entries(options_map: Mapping[str, Any], key: str, path: Path) -> list[tuple[int, str]]:
    """``[(code, text), ...]`` of one options-map entry, in file order; each code named once."""
    entries = options_map[key]
    if not isinstance(entries, Mapping) or not entries:
        raise InputDataError(
            path,
            key,
            f"entry must be a non-empty object {{code: text}}, got {type(entries).__name__}",
            'write it as {"1": "first option", "2": "second option"}',
        )
    out: list[tuple[int, str]] = []
    seen: dict[int, str] = {}
    for raw_code, text in entries.items():
        code = _code(raw_code, path, key)
        if code in seen:
            raise InputDataError(
                path,
                key,
                f"option keys {seen[code]!r} and {raw_code!r} name the same code {code}",
                "keep one key per code",
            )
        seen[code] = raw_code
        out.append((code, str(text)))
    return out


def _code(key: str, path: Path, field: str) -> int:
    """Option-map keys are written as "1.0" or "7"; codes are integers."""
    try:
        value = float(key)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise InputDataError(
            path, field, f"option code {key!r} is not an integer", "use integer codes such as '1.0'"
        )
    return int(value)


def require_mapping(obj: Any, path: Path, field: str | None, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputDataError(
            path,
            field,
            f"{what} must be a JSON object, got a {type(obj).__name__}",
            f"write it as {{key: value}} ({what})",
        )
    return obj
