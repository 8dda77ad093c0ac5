"""The loader of a user's point file: its rules one by one, then fuzzed against an oracle.

The CSV fuzzer builds a file from a model (rows of cells, each cell's spelling and meaning known
when it is made), renders it (blank lines, BOM, CRLF or CR, quotes, an index column, one defect),
and asks the model, not the text, what the file means: the loader must agree, or refuse with a
ValueError naming the file (and the line and column the model says are at fault).
"""

from __future__ import annotations

import io
import math
import os
import socket
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygan as tg
from tinygan.evaluation import loader

NAME = "points.csv"


def refused(content: bytes, filename: str = NAME, **kwargs) -> str:
    """The one-line message with which points_from_bytes refuses content."""
    with pytest.raises(ValueError) as error:
        tg.points_from_bytes(content, filename, **kwargs)
    message = str(error.value)
    assert repr(filename) in message and "\n" not in message, message
    return message


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- CSV rules
def test_a_first_row_with_one_bad_field_is_refused_not_taken_for_a_header():
    message = refused(b"1.5,abc\n3,4\n5,6\n")
    assert "line 1, column 2" in message and "'abc'" in message
    assert "line 2, column 1" in refused(b"1.5,2\nabc,4\n5,6\n")  # the same defect on line 2


def test_a_header_is_a_first_row_without_numbers():
    data = tg.points_from_bytes(b"x,y\n1,2\n3,4\n", NAME)
    np.testing.assert_array_equal(data.points, [[1, 2], [3, 4]])
    assert "line 3, column 1" in refused(b"x,y\n1,2\nz,w\n")  # only the first row can be a header


def test_ragged_rows_name_the_line():
    assert "line 3 has 3 fields" in refused(b"1,2\n\n3,4,5\n")
    assert "the header has 3 fields" in refused(b"x,y,z\n1,2\n3,4\n")


def test_blank_lines_bom_crlf_and_quotes_are_accepted():
    data = tg.points_from_bytes(b'\xef\xbb\xbf"x","y"\r\n\r\n 1 ,\t2\r\n  \r\n"3",4\r\n', NAME)
    np.testing.assert_array_equal(data.points, [[1, 2], [3, 4]])


def test_non_utf8_bytes_are_named_with_their_line():
    message = refused(b"x,y\n1,2\n3,\xe94\n")
    assert "not UTF-8" in message and "0xe9" in message and "line 3" in message


@pytest.mark.parametrize("token", ["nan", "inf", "-Inf", "1e999"])
def test_non_finite_numbers_are_named(token):
    assert "line 2, column 2" in refused(f"1,2\n3,{token}\n5,6\n".encode())


def test_pandas_index_column_with_a_header_is_dropped_and_noted():
    for first in ("", "Unnamed: 0", "index"):  # to_csv(), read_csv().to_csv(), reset_index().to_csv()
        data = tg.points_from_bytes(f"{first},x,y\n0,1.5,2.5\n1,3.5,4.5\n2,5.5,6.5\n".encode(), NAME)
        np.testing.assert_array_equal(data.points, [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]])
        assert "dropped the index column" in repr(data) and data.dim == 2
    r_style = tg.points_from_bytes(b'"","x","y"\n"1",1,2\n"2",3,4\n', NAME)  # R's write.csv
    assert r_style.points.shape == (2, 2)
    kept = tg.points_from_bytes(b"t,x\n0,1.5\n1,2.5\n", NAME)  # a named first column is data
    assert kept.points.shape == (2, 2) and kept.note == ""


def test_pandas_index_column_without_a_header_is_refused_with_the_fix():
    message = refused(b"0,1.5,2.5\n1,3.5,4.5\n2,5.5,6.5\n")
    assert "row index" in message and "index=False" in message
    assert tg.points_from_bytes(b"0.0,1.5\n1.0,2.5\n", NAME).points.shape == (2, 2)  # floats are data


def test_header_only_and_too_few_points():
    assert "no rows of numbers" in refused(b"x,y\n\n")
    assert "at least 2 points" in refused(b"x,y\n1,2\n")


def test_values_that_would_become_zero_in_float32_are_refused_not_zeroed():
    message = refused(npy_bytes(np.array([[1e-310, 2e-310], [3e-310, 1e-300], [0.0, 5e-305]])), "tiny.npy")
    assert "3 row(s)" in message and "too small for float32" in message
    assert "too small for float32" in refused(b"1e-50,1\n2,3\n")
    float64 = tg.points_from_bytes(b"1e-50,1\n2,3\n", NAME, dtype=np.float64)
    assert float64.points[0, 0] == 1e-50  # float64 holds it: taken as it is


# ----------------------------------------------------------------------------- .npy rules
def test_npy_round_trip_any_float_or_int_dtype_and_fortran_order():
    array = np.arange(12, dtype=">i4").reshape(4, 3)
    data = tg.points_from_bytes(npy_bytes(np.asfortranarray(array)), "a.npy")
    np.testing.assert_array_equal(data.points, array)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 2)), "empty array of shape (0, 2)"),
        (np.zeros((3, 0)), "empty array"),
        (np.zeros(5), "x.reshape(-1, 1)"),
        (np.float64(3.0), "shape ()"),
        (np.zeros((2, 2, 2)), "shape (2, 2, 2)"),
        (np.array([[1, "a"]], dtype=object), "object"),
        (np.zeros((3, 2), complex), "complex128"),
        (np.zeros((3, 2), bool), "bool"),
        (np.array([[np.nan, 1.0], [2.0, 3.0]]), "NaN or inf in 1 row"),
    ],
)
def test_bad_npy_arrays_are_named(array, message):
    assert message in refused(npy_bytes(array), "a.npy")


def test_npy_whose_header_lies_or_is_truncated():
    raw = npy_bytes(np.zeros((3, 2)))
    assert "is truncated" in refused(raw[:-8], "a.npy")
    assert "bytes after its array" in refused(raw + b"\0" * 8, "a.npy")
    huge = raw.replace(b"(3, 2)", b"(10**12, 2)".replace(b"10**12", str(10**12).encode()))
    assert "is truncated" in refused(huge, "a.npy") and "16 TB" in refused(huge, "a.npy")
    assert "not a .npy file" in refused(b"1,2\n3,4\n", "a.npy")
    assert "is empty" in refused(b"", "a.npy")


def test_npy_too_big_for_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(loader, "available_memory", lambda: 1000)
    assert "memory available" in refused(npy_bytes(np.zeros((100, 2))), "a.npy")
    assert "memory available" in refused(b"1,2\n" * 100, "big.csv")


# ----------------------------------------------------------------------------- the file itself
def test_missing_directory_and_unknown_extension(tmp_path):
    for path, message in [
        (tmp_path / "none.csv", "does not exist"),
        (tmp_path, "is a directory"),
        (tmp_path / "notes.txt", "must end in .csv or .npy"),
    ]:
        if path.suffix == ".txt":
            path.write_text("1,2\n3,4\n")
        with pytest.raises(ValueError, match=message) as error:
            tg.load_points(path)
        assert repr(str(path)) in str(error.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_named_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO"):
        tg.load_points(fifo)  # opening it would wait forever for a writer


def test_a_socket_is_named(tmp_path):
    path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(ValueError, match="is a socket"):
            tg.load_points(path)


def test_a_file_that_cannot_be_opened_is_named(tmp_path, monkeypatch):
    path = tmp_path / "locked.csv"
    path.write_text("1,2\n3,4\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(loader, "open", denied, raising=False)  # root ignores mode bits; fail open() itself
    with pytest.raises(ValueError, match=r"cannot be read: Permission denied"):
        tg.load_points(path)


def test_max_bytes_is_checked_from_the_size_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as handle:
        handle.truncate(20_100_000)  # sparse: nothing written, nothing read
    with pytest.raises(ValueError, match=r"is 20.1 MB; the limit is 5 MB"):
        tg.load_points(path, max_bytes=5_000_000)
    assert "the limit is 5 MB" in refused(b"1,2\n" * 2_000_000, max_bytes=5_000_000)
    with pytest.raises(TypeError, match="max_bytes"):
        tg.load_points(path, max_bytes=5.0)
    with pytest.raises(ValueError, match="max_bytes"):
        tg.load_points(path, max_bytes=0)


def test_load_points_keeps_the_path_and_bytes_give_none(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    assert tg.load_points(path).path == str(path)
    assert tg.points_from_bytes(path.read_bytes(), "p.csv").path is None


# ----------------------------------------------------------------------------- CSV fuzzing
@dataclass
class Cell:
    """One field as written (text) and what it means: value None for non-numeric text."""

    text: str
    value: float | None
    plain_int: bool = False  # digits only (after spaces and quotes): what an index column is made of


def dress(text: str, style: int) -> str:
    """The same field with spaces, tabs or quotes around it."""
    return [text, f" {text}", f"{text}\t", f'"{text}"', f' " {text} " '][style]


@st.composite
def number_cells(draw) -> Cell:
    style = draw(st.integers(0, 4))
    if draw(st.booleans()):
        value = draw(st.integers(-5, 9))
        spellings = [(str(value), value >= 0), (f"{value}.0", False), (f"{value}e0", False), (f"+{value}", False)]
        text, plain = draw(st.sampled_from(spellings[:1] if value < 0 else spellings))
        return Cell(dress(text, style), float(value), plain)
    value = draw(st.floats(-1e6, 1e6, allow_nan=False))
    text = draw(st.sampled_from([repr(value), f"{value:.4f}", f"{value:.6e}", f"{value:.3E}"]))
    if text.lstrip("-").startswith("0.") and draw(st.booleans()):
        text = text.replace("0.", ".", 1)  # ".25", "-.25"
    return Cell(dress(text, style), float(text))


BAD_TOKENS = ["abc", "x1", "1.2.3", "0x10", "1_000", "--1", "e5", "1e", "na", "N/A", "1 2", "\u22121", "\u0661",
              "Infinity", "''"]  # fmt: skip
NON_FINITE = ["nan", "NaN", "inf", "-inf", "+Inf", "1e999"]
HEADER_NAMES = ["x", "y", "col 1", "Unnamed: 1", "a b", '"x"', "value", "index", "t"]
INDEX_FIRST = ["", "Unnamed: 0", "index", '""']


@dataclass
class CsvCase:
    header: list[Cell] | None
    rows: list[list[Cell]]
    blanks: list[str]  # before each rendered line (header and rows): "" for none, else a blank line's text
    newline: str
    bom: bool
    bad_byte_line: int | None  # index into the rendered lines where an invalid UTF-8 byte is appended

    def lines(self) -> list[tuple[str, list[Cell] | None]]:
        """(text, cells) for each physical line; cells None for a blank line."""
        out = []
        rendered = ([self.header] if self.header is not None else []) + self.rows
        for cells, blank in zip(rendered, self.blanks):
            if blank:
                out.append((blank if blank != "<empty>" else "", None))
            out.append((",".join(cell.text for cell in cells), cells))
        return out

    def content(self) -> bytes:
        lines = [text.encode() for text, _ in self.lines()]
        if self.bad_byte_line is not None:
            lines[self.bad_byte_line] += b"\xff"
        return (b"\xef\xbb\xbf" if self.bom else b"") + self.newline.encode().join(lines) + self.newline.encode()


@st.composite
def csv_cases(draw) -> CsvCase:
    n = draw(st.integers(1, 6))
    d = draw(st.integers(1, 3))
    index = draw(st.booleans())
    rows = [[draw(number_cells()) for _ in range(d)] for _ in range(n)]
    if index:
        rows = [[Cell(str(i), float(i), True)] + row for i, row in enumerate(rows)]
    width = d + index
    header = None
    if draw(st.booleans()):
        names = [draw(st.sampled_from(HEADER_NAMES)) for _ in range(width)]
        if index:
            names[0] = draw(st.sampled_from(INDEX_FIRST + ["t"]))
        header = [Cell(name, None) for name in names]
    defect = draw(st.sampled_from(["none", "none", "bad", "non_finite", "ragged", "bad_byte"]))
    if defect in ("bad", "non_finite"):
        r, c = draw(st.integers(0, n - 1)), draw(st.integers(0, width - 1))
        tokens = BAD_TOKENS + ([""] if width > 1 else [])  # a lone empty field would make a blank line
        token = draw(st.sampled_from(tokens if defect == "bad" else NON_FINITE))
        rows[r][c] = Cell(token, None if defect == "bad" else float(token))
    elif defect == "ragged":
        r = draw(st.integers(0, n - 1))
        if width > 1 and draw(st.booleans()):
            rows[r] = rows[r][:-1]
        else:
            rows[r] = rows[r] + [Cell("7", 7.0)]
    lines = n + (header is not None)
    blanks = [draw(st.sampled_from(["", "", "<empty>", "  ", "\t"])) for _ in range(lines)]
    case = CsvCase(header, rows, blanks, draw(st.sampled_from(["\n", "\r\n", "\r"])), draw(st.booleans()), None)
    if defect == "bad_byte":
        case.bad_byte_line = draw(st.integers(0, len(case.lines()) - 1))
    return case


def oracle(case: CsvCase) -> tuple[np.ndarray | None, str]:
    """What the model means: (points, note) or (None, a fragment the refusal must contain)."""
    lines = case.lines()
    if case.bad_byte_line is not None:
        return None, f"(line {case.bad_byte_line + 1})"
    numbered = [(number, cells) for number, (_, cells) in enumerate(lines, 1) if cells is not None]
    header = numbered.pop(0) if all(cell.value is None for cell in numbered[0][1]) else None
    if not numbered:
        return None, "no rows of numbers"
    width = len(numbered[0][1])
    if header is not None and len(header[1]) != width:
        return None, f"line {header[0]}: the header has"
    for number, cells in numbered:
        if len(cells) != width:
            return None, f"line {number} has {len(cells)} fields"
        for column, cell in enumerate(cells, 1):
            if cell.value is None:
                return None, f"line {number}, column {column}:"
        for column, cell in enumerate(cells, 1):
            if not math.isfinite(cell.value):
                return None, f"line {number}, column {column}:"
    points = np.array([[cell.value for cell in cells] for _, cells in numbered])
    note = ""
    if width >= 2 and all(cells[0].plain_int for _, cells in numbered):
        if header is not None and header[1][0].text.strip('"').lower() in ("", "unnamed: 0", "index"):
            points, note = points[:, 1:], "dropped the index column"
        elif header is None and np.array_equal(points[:, 0], np.arange(len(points))):
            return None, "row index"
    if len(points) < 2:
        return None, "at least 2 points"
    if np.any((points != 0) & (points.astype(np.float32) == 0)):
        return None, "too small for float32"
    return points, note


def check_csv(case: CsvCase) -> None:
    expected, fragment = oracle(case)
    if expected is None:
        message = refused(case.content())
        assert fragment in message, (fragment, message)
        return
    data = tg.points_from_bytes(case.content(), NAME)
    np.testing.assert_array_equal(data.points, expected.astype(np.float32))
    assert (fragment in data.note) and (fragment or not data.note)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_cases())
def test_csv_fuzz_agrees_with_the_oracle(case):
    check_csv(case)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TINYGAN_LONG_FUZZ"), reason="set TINYGAN_LONG_FUZZ=1 for the long fuzz")
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_cases())
def test_csv_fuzz_agrees_with_the_oracle_long(case):
    check_csv(case)


# ----------------------------------------------------------------------------- .npy fuzzing
DTYPES = ["<f4", ">f8", "<f2", "<i8", ">i2", "<u1", "|b1", "<c8", "|O", "<U3", "<M8[s]", [("a", "<f4"), ("b", "<i4")]]


@st.composite
def npy_cases(draw) -> tuple[bytes, np.ndarray | None]:
    """Bytes of a .npy file and, when they are np.save's own output, the array they hold."""
    ndim = draw(st.sampled_from([2, 2, 2, 0, 1, 3]))  # mostly (n, d): the arrays that load
    shape = tuple(draw(st.integers(0, 5)) for _ in range(ndim))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    values = np.random.default_rng(draw(st.integers(0, 99))).normal(0, 100, size=shape)
    if dtype.names:
        array = np.zeros(shape, dtype)
    elif dtype.kind == "O":
        array = values.astype(object)
    else:
        array = values.astype(dtype)
    array = np.asfortranarray(array) if draw(st.booleans()) else array
    raw = npy_bytes(array)
    mutation = draw(st.sampled_from(["none", "none", "truncate", "append", "shape", "flip", "version", "cut_header"]))
    if mutation == "none":
        return raw, array
    header_end = raw.index(b"\n") + 1
    if mutation == "truncate":
        return raw[: draw(st.integers(0, max(len(raw) - 1, 0)))], None
    if mutation == "append":
        return raw + draw(st.binary(min_size=1, max_size=16)), None
    if mutation == "shape":
        claimed = tuple(draw(st.lists(st.integers(-2, 10**15), min_size=0, max_size=3)))
        text = raw[10:header_end].decode("latin1")
        start = text.index("'shape': ") + 9
        end = text.index(")", start) + 1
        header = (text[:start] + repr(claimed) + text[end:]).rstrip(" \n") + " \n"
        return raw[:8] + len(header).to_bytes(2, "little") + header.encode("latin1") + raw[header_end:], None
    if mutation == "flip":
        position = draw(st.integers(0, header_end - 1))
        return raw[:position] + bytes([draw(st.integers(0, 255))]) + raw[position + 1 :], None
    if mutation == "version":
        return raw[:6] + bytes([draw(st.integers(0, 4)), 0]) + raw[8:], None
    return raw[: draw(st.integers(0, header_end))], None


def check_npy(raw: bytes, array: np.ndarray | None) -> None:
    try:
        data = tg.points_from_bytes(raw, "fuzz.npy")
    except ValueError as error:
        assert "'fuzz.npy'" in str(error) and "\n" not in str(error), str(error)
        if array is not None:  # np.save's own output is refused only for what EmpiricalData cannot hold
            valid = array.dtype.kind in "fiu" and array.ndim == 2 and array.shape[0] >= 2 and array.shape[1] >= 1
            assert not valid, str(error)
        return
    if array is None:  # a mutated file accepted: it must mean what NumPy itself reads from it
        array = np.load(io.BytesIO(raw), allow_pickle=False)
        assert array.dtype.kind in "fiu" and array.ndim == 2
    np.testing.assert_array_equal(data.points, array.astype(np.float32))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=npy_cases())
def test_npy_fuzz_reads_what_numpy_wrote_or_refuses_by_name(case):
    check_npy(*case)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TINYGAN_LONG_FUZZ"), reason="set TINYGAN_LONG_FUZZ=1 for the long fuzz")
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=npy_cases())
def test_npy_fuzz_long(case):
    check_npy(*case)


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=200), name=st.sampled_from(["r.csv", "r.npy", "r.CSV", "r.txt", "r"]))
def test_random_bytes_are_read_or_refused_by_name(content, name):
    try:
        data = tg.points_from_bytes(content, name)
    except ValueError as error:
        assert repr(name) in str(error)
    else:
        assert data.points.ndim == 2 and np.all(np.isfinite(data.points))
