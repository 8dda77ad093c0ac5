"""The one reader of a user's point file (.csv or .npy): each rule written once, each refusal named.

Every entry point (``--data``, the live page's upload, resuming a checkpoint trained on a file)
reads points through :func:`read_points` (a path) or :func:`parse_points` (bytes already in
memory), which return the points as an (n, d) array and a note on what was dropped. Bad input is
a ``ValueError`` whose one line starts ``data file '<name>'`` and says what is wrong, with the line
and column for a CSV; never another exception, never a hang, never a MemoryError.

The file itself
  * it must exist and be a regular file: a directory, FIFO, socket or device is named for what
    it is (checked with ``stat`` before opening, as opening a FIFO would wait for a writer);
  * its name ends in ``.csv`` or ``.npy`` (any case);
  * with ``max_bytes``, its size (from ``stat``, before reading) must not exceed it;
  * a file too big for the memory available now is refused before it is read.

CSV (UTF-8; a leading byte-order mark is dropped; lines end in LF, CRLF or CR)
  * blank lines (only spaces or tabs) are skipped; fields are split at every comma, stripped of
    spaces and tabs, and a field wrapped in double quotes is unwrapped (R quotes its row names);
  * a number is written ``[+-]digits[.digits][e[+-]digits]`` (or ``.digits...``); ``nan`` and
    ``inf`` are refused as not finite;
  * a header is a first row with NO numeric field; any row with some numeric and some
    non-numeric fields, and any later row without numbers, is refused naming line and column;
  * every row has as many fields as the first row of numbers, the header included;
  * an index column (what pandas' ``to_csv`` and R's ``write.csv`` write first) is DROPPED when
    the header names it as one (its first cell is empty, ``Unnamed: 0`` or ``index``) and its
    values are whole numbers written as integers; the note says so. Without a header an index
    cannot be told from data, so a first column ``0, 1, ..., n-1`` written as integers is
    REFUSED, saying how to fix the file (``to_csv(index=False)``, or a header row).

.npy (never unpickled)
  * the header is read first (format 1.0 or 2.0) and checked before any array is allocated:
    a real or integer dtype (not bool, complex, object or structured), shape (n, d) with
    n, d >= 1 (a 1-D array is refused with the reshape that fixes it), and a data size that is
    exactly shape x itemsize (a truncated file, or a header that claims more or less, is refused).
"""

from __future__ import annotations

import codecs
import io
import math
import os
import re
import stat
import tokenize
from typing import IO, Any

import numpy as np

EXTENSIONS = (".csv", ".npy")
INDEX_NAMES = ("", "unnamed: 0", "index")  # a header's first cell that marks a row-index column
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII digits only
INTEGER = re.compile(r"[0-9]+")
CSV_BYTES_PER_NUMBER = 200  # Python's lists of fields and floats while parsing, per number (a generous bound)


class DataFileError(ValueError):
    """A user's point file that cannot be used; the message names the file."""


def describe_size(nbytes: float) -> str:
    """20_100_000 -> '20.1 MB'; 5_000_000 -> '5 MB'; 532 -> '532 bytes'."""
    if nbytes < 1000:
        return f"{nbytes:.0f} bytes"
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        nbytes /= 1000
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
    raise AssertionError("unreachable")


def available_memory() -> int:
    """Bytes a new allocation can get now (Linux MemAvailable; else the machine's total)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: refuse nothing


def check_max_bytes(max_bytes: Any) -> int | None:
    """None, or a positive int (bool refused): the largest file accepted, in bytes."""
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise TypeError(f"max_bytes must be a positive int or None, got {type(max_bytes).__name__}")
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes}")
    return int(max_bytes)


def read_points(path: str | os.PathLike, *, max_bytes: int | None = None) -> tuple[np.ndarray, str]:
    """The points (n, d) in a user's file and a note ('' or what was dropped), by the rules above."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    limit = check_max_bytes(max_bytes)
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a text path, got {type(path).__name__}")
    name = repr(path)
    size = _regular_file_size(path)
    kind = _kind(path)
    _check_size(name, size, limit, kind)
    try:
        with open(path, "rb") as handle:
            return _parse(handle, size, name, kind)
    except OSError as error:
        raise DataFileError(f"data file {name} cannot be read: {error.strerror or error}") from None


def parse_points(content: bytes, filename: str, *, max_bytes: int | None = None) -> tuple[np.ndarray, str]:
    """``read_points`` for a file already in memory (an upload): the same rules, named by filename."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"content must be bytes, got {type(content).__name__}")
    if not isinstance(filename, str):
        raise TypeError(f"filename must be a str, got {type(filename).__name__}")
    limit = check_max_bytes(max_bytes)
    content = bytes(content)
    name = repr(filename)
    kind = _kind(filename)
    _check_size(name, len(content), limit, kind)
    return _parse(io.BytesIO(content), len(content), name, kind)


def _regular_file_size(path: str) -> int:
    """The file's size; refuse what is missing or not a regular file, without opening it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataFileError(f"data file {path!r} does not exist") from None
    except (OSError, ValueError) as error:  # a name too long, a NUL byte, a loop of links, no permission
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise DataFileError(f"data file {path!r} cannot be read: {reason}") from None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return info.st_size
    what = (
        "a directory" if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )  # fmt: skip
    raise DataFileError(f"data file {path!r} is {what}, not a regular .csv or .npy file")


def _kind(filename: str) -> str:
    extension = os.path.splitext(filename)[1].lower()
    if extension not in EXTENSIONS:
        raise DataFileError(f"data file {filename!r} must end in .csv or .npy, not {extension or 'no extension'!r}")
    return extension


def _check_size(name: str, size: int, limit: int | None, kind: str) -> None:
    """Refuse a file over max_bytes, an empty one, or a CSV too big to parse in memory, before reading."""
    if limit is not None and size > limit:
        raise DataFileError(f"data file {name} is {describe_size(size)}; the limit is {describe_size(limit)}")
    if size == 0:
        raise DataFileError(f"data file {name} is empty (0 bytes)")
    if kind == ".npy":
        return  # its header says how much memory it needs (_read_npy)
    needed = size * CSV_BYTES_PER_NUMBER // 2  # a number takes at least 2 bytes of CSV ("1,")
    available = available_memory()
    if needed > available:
        raise DataFileError(
            f"data file {name} is {describe_size(size)}; reading it needs about {describe_size(needed)}, "
            f"more than the {describe_size(available)} of memory available"
        )


def _parse(handle: IO[bytes], size: int, name: str, kind: str) -> tuple[np.ndarray, str]:
    if kind == ".npy":
        return _read_npy(handle, size, name), ""
    return _parse_csv(_decode(handle.read(), name), name)


# ----------------------------------------------------------------------------- CSV
def _decode(content: bytes, name: str) -> str:
    """UTF-8 text without its byte-order mark; a bad byte named by its offset in the file and its line."""
    bom = len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0  # spreadsheets write one
    try:
        return content[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = bom + error.start
        line = len(re.split(rb"\r\n|\r|\n", content[:offset]))
        raise DataFileError(
            f"data file {name} is not UTF-8 text: byte 0x{content[offset]:02x} at offset {offset} (line {line}); "
            "save it as UTF-8 CSV"
        ) from None


def _fields(line: str) -> list[str]:
    """Comma-separated fields, stripped of spaces and tabs, one pair of double quotes unwrapped."""
    fields = [field.strip(" \t") for field in line.split(",")]
    return [f[1:-1].strip(" \t") if len(f) >= 2 and f[0] == f[-1] == '"' else f for f in fields]


def _is_number(field: str) -> bool:
    return NUMBER.fullmatch(field) is not None or field.lower() in ("nan", "+nan", "-nan", "inf", "+inf", "-inf")


def _parse_csv(text: str, name: str) -> tuple[np.ndarray, str]:
    """Rows of numbers (n, d) and a note, by the CSV rules of this module's docstring."""
    lines = enumerate(re.split(r"\r\n|\r|\n", text), 1)
    rows = [(number, _fields(line)) for number, line in lines if line.strip(" \t")]  # blank lines skipped
    header = None
    if rows and not any(_is_number(field) for field in rows[0][1]):
        header = rows.pop(0)
    if not rows:
        raise DataFileError(f"data file {name} has no rows of numbers")
    width = len(rows[0][1])
    if header is not None and len(header[1]) != width:
        raise DataFileError(
            f"data file {name}, line {header[0]}: the header has {len(header[1])} fields, the rows have {width}"
        )
    points = np.array([_row_values(number, fields, width, name) for number, fields in rows], dtype=np.float64)
    return _drop_index_column(points, rows, header, name)


def _row_values(number: int, fields: list[str], width: int, name: str) -> list[float]:
    if len(fields) != width:
        raise DataFileError(
            f"data file {name}, line {number} has {len(fields)} fields; the rows before it have {width}"
        )
    for column, field in enumerate(fields, 1):
        if not _is_number(field):
            shown = "an empty field" if not field else f"{field[:40]!r} is non-numeric"
            raise DataFileError(
                f"data file {name}, line {number}, column {column}: {shown} "
                "(a header is a first row with no numbers at all)"
            )
    values = [float(field) for field in fields]
    for column, value in enumerate(values, 1):
        if not math.isfinite(value):
            raise DataFileError(
                f"data file {name}, line {number}, column {column}: {fields[column - 1]!r} is not finite"
            )
    return values


def _drop_index_column(points: np.ndarray, rows: list, header: Any, name: str) -> tuple[np.ndarray, str]:
    """Drop a header-marked index column; refuse an unmarked 0..n-1 one (see the module docstring)."""
    if points.shape[1] < 2 or not all(INTEGER.fullmatch(fields[0]) for _, fields in rows):
        return points, ""
    if header is not None:
        first = header[1][0]
        if first.lower() in INDEX_NAMES:
            return points[:, 1:], f"dropped the index column {first!r} (column 1)"
        return points, ""
    if np.array_equal(points[:, 0], np.arange(len(points))):
        raise DataFileError(
            f"data file {name}: column 1 is 0, 1, ..., {len(points) - 1}, a row index (as pandas' to_csv writes); "
            "write the file with to_csv(index=False), or add a header row (a first name that is empty, "
            "'index' or 'Unnamed: 0' drops the column; any other name keeps it as data)"
        )
    return points, ""


# ----------------------------------------------------------------------------- .npy
def _read_npy(handle: IO[bytes], size: int, name: str) -> np.ndarray:
    """The array (n, d) of a .npy file, its header checked before a byte of data is read."""
    shape, fortran_order, dtype = _npy_header(handle, name)
    _check_npy_array(shape, dtype, name)
    expected = math.prod(shape) * dtype.itemsize
    present = size - handle.tell()
    if present != expected:
        which = "is truncated" if present < expected else "has bytes after its array"
        raise DataFileError(
            f"data file {name} {which}: its header describes a {shape} {dtype.name} array of "
            f"{describe_size(expected)}, and {describe_size(present)} of data follow the header"
        )
    available = available_memory()
    if 3 * expected > available:  # the bytes read, and the converted copy
        raise DataFileError(
            f"data file {name} holds a {shape} array of {describe_size(expected)}; reading it needs about "
            f"{describe_size(3 * expected)}, more than the {describe_size(available)} of memory available"
        )
    array = np.frombuffer(handle.read(expected), dtype=dtype)
    return array.reshape(shape, order="F" if fortran_order else "C")


def _npy_header(handle: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
    except ValueError:
        raise DataFileError(
            f"data file {name} is not a .npy file (it does not start with NumPy's magic bytes)"
        ) from None
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise DataFileError(f"data file {name} is .npy format {version[0]}.{version[1]}; save it with np.save")
    try:
        return readers[version](handle)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, tokenize.TokenError) as error:
        # NumPy parses the header with ast.literal_eval, and an old-style one with tokenize
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataFileError(f"data file {name} has a broken .npy header ({reason[:120]})") from None


def _check_npy_array(shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    if dtype.hasobject or dtype.kind not in "fiu" or dtype.shape or dtype.names:
        raise DataFileError(f"data file {name} holds {dtype} values; save real numbers (float or integer)")
    if len(shape) == 1:
        raise DataFileError(
            f"data file {name} holds a 1-D array of shape {shape}; data must have shape (n, d): "
            "for n points in 1-D save x.reshape(-1, 1)"
        )
    if any(length < 0 for length in shape):
        raise DataFileError(f"data file {name} has a broken .npy header (negative shape {shape})")
    if len(shape) != 2:
        raise DataFileError(f"data file {name} holds an array of shape {shape}; data must have shape (n, d)")
    if 0 in shape:
        raise DataFileError(f"data file {name} holds an empty array of shape {shape}")
