"""CSV logs: Lightning's CSVLogger (wide, sparse rows), Keras' CSVLogger (`epoch,loss,...`), TensorBoard's
"Download CSV" (`Wall time,Step,Value`, one metric per file, named after the file), and generic tables.

The step is the first of global_step/step/_step/iteration/.../epoch present; else the row index. Empty cells
are "not logged this row" (Lightning writes step and epoch metrics on separate rows); non-numeric cells are
counted and reported.

Speed: the file is read in blocks of bytes. A block with no quote, carriage return, control byte or non-ASCII
byte is plain comma-separated text, so its rows are its lines split at the delimiter: numpy finds the line ends, the
cell bounds and the empty cells, and the cells are parsed where they lie in the block (readers/_numbers.py:
float()'s value bit for bit; a cell it cannot prove is read by float() alone, as the row path reads it). From the
first block that is not plain the csv module reads the rest row by row (quoted cells may span lines).
VECTORIZED = False reads the whole file with the csv module; both give the same Run (tests/test_logs_bulk.py).
"""

from __future__ import annotations

import csv
import io
import re
from array import array
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_step
from traintriage.logs.readers import _numbers
from traintriage.logs.readers._common import (
    STEP_COLUMNS,
    WALL_COLUMNS,
    is_regular,
    numpy_or_none,
    pick,
    regular,
)

FORMAT = "csv"
# False: the csv module reads every row (the reference behaviour the block path must reproduce).
VECTORIZED = True
# Bytes per block of the bulk path: the per-block numpy work is amortized, and the block's cell offsets (a few
# int64 per cell) stay a few tens of MB whatever the file's size.
BLOCK = 2 << 20
# Integers up to 2**53 convert to the same int whether read as int(text) (the bulk path) or int(float(text))
# (to_step, the row path); a larger step goes through to_step.
_EXACT_INT = 1 << 53
_HEADER_CELL = re.compile(r"^(?!.*[\s:=]\d)[A-Za-z_][\w ./\-()\[\]@]*$")  # a name, not "key: 1" or "loss 0.3"


def sniff(path: Path) -> bool:
    if path.is_dir():
        return bool(_found(path))
    if path.suffix.lower() in (".csv", ".tsv"):
        return True
    if not is_regular(path):
        return False
    try:
        with path.open("rb") as f:
            head = f.read(2048).decode("utf-8", "replace").splitlines()
    except OSError:
        return False
    if len(head) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(head[:5]), delimiters=",\t;")
        cols = next(csv.reader([head[0]], dialect), [])
        row = next(csv.reader([head[1]], dialect), [])
    except csv.Error:
        return False
    return (len(cols) >= 2 and len(row) == len(cols) and any(_num(c) for c in row)
            and all(_HEADER_CELL.match(c.strip()) and not _num(c) for c in cols))


def _num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _found(path: Path) -> list[Path]:
    return regular(path.rglob("metrics.csv"))  # a FIFO with that name must not block the read


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # removed since it was listed
        return 0.0


def _file(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(_found(path), key=_mtime)
    if not found:
        raise LogReadError(f"{path}: no metrics.csv in this folder")
    return found[-1]


def read(path: Path) -> Run:
    f = _file(path)
    rb = RunBuilder(str(path), FORMAT)
    if f != path:
        rb.metadata["file"] = str(f)
    with f.open("rb") as fb:
        head = fb.read(4096)
        if not head.strip() and not _any_text(fb):
            raise LogReadError(f"{f}: empty file")
        fb.seek(0)
        sample = head.decode("utf-8", "replace")
        delim = "\t" if f.suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",") else ","
        np = numpy_or_none() if VECTORIZED else None
        raw = fb.readline(max(BLOCK, csv.field_size_limit())) if np is not None else b""
        first = _crlf(raw)
        if first is not None and first.endswith(b"\n") and len(first) <= csv.field_size_limit() \
                and _plain(first, np) is not None:
            cols = _Columns(f, first[:-1].decode("ascii").split(delim) if first != b"\n" else [])
            if cols.bulk:
                _bulk(fb, len(raw), cols, rb, delim, np)  # rows read up to the first block that is not plain
            else:
                cols.start = len(raw)
        else:
            cols = None
        replaced = False
        if cols is None or cols.start is not None:  # the csv module reads the rest
            fb.seek(cols.start if cols is not None else 0)
            # Streamed: one row at a time (memory does not follow the file's size). newline="": the csv module
            # sees \r, \r\n and \n line ends itself (a bare \r is a line end, not an error).
            text = io.TextIOWrapper(fb, encoding="utf-8", errors="replace", newline="")
            lines = _Lines(text)
            reader = csv.reader(lines, delimiter=delim)
            if cols is None:
                cols = _Columns(f, _header(f, reader))
            _read_rows(reader, cols, rb)
            replaced = lines.replaced
    _finish(cols, rb)
    if replaced:
        rb.skipped.append("file contains non-UTF-8 bytes; decoded with replacement characters")
    return rb.finish()


def _any_text(fb) -> bool:  # noqa: ANN001 - a binary file
    """Whether the rest of a binary file has anything but whitespace (read in blocks)."""
    while block := fb.read(1 << 20):
        if block.strip():
            return True
    return False


class _Lines:
    """The lines of a text file, noting whether any had bytes that were not UTF-8 (decoded as U+FFFD)."""

    def __init__(self, text) -> None:  # noqa: ANN001 - a text file object
        self.text = text
        self.replaced = False

    def __iter__(self):  # noqa: ANN204
        for line in self.text:
            if not self.replaced and "\ufffd" in line:
                self.replaced = True
            yield line


def _header(f: Path, reader) -> list[str]:  # noqa: ANN001 - a csv reader
    try:
        return next(reader)
    except StopIteration as e:
        raise LogReadError(f"{f}: empty file") from e
    except csv.Error as e:
        raise LogReadError(f"{f}: line 1: the header row is not readable CSV ({e})") from e


class _Columns:
    """What the header says: the step, wall-time and metric columns, and where reading stands (rows read, lines
    read, the byte offset from which the csv module reads on; None while the bulk path reads)."""

    def __init__(self, f: Path, cells: list[str]) -> None:
        header = [h.strip() for h in cells]
        if len(header) < 2 or all(_num(h) for h in header if h):
            raise LogReadError(f"{f}: the first row is not a header of column names ({header[:5]})")
        self.header = header
        step_col = pick(header, STEP_COLUMNS)
        wall_col = pick(header, WALL_COLUMNS)
        self.step_col = step_col
        self.si = header.index(step_col) if step_col else None
        self.wi = header.index(wall_col) if wall_col else None
        tb_export = {h.lower() for h in header} == {"wall time", "step", "value"}
        self.names = [f.stem if (tb_export and h.lower() == "value") else h for h in header]
        self.metric_idx = [i for i in range(len(header)) if i not in (self.si, self.wi) and header[i]]
        # Two columns of one name feed one series row by row: only the row path interleaves them that way.
        self.bulk = len({self.names[i] for i in self.metric_idx}) == len(self.metric_idx)
        self.bad_cells = 0
        self.rows = 0  # rows read (the step of a row when there is no step column)
        self.lines = 1  # lines read, the header's included
        self.start: int | None = None


def _read_rows(reader, cols: _Columns, rb: RunBuilder) -> None:  # noqa: ANN001 - a csv reader
    header, si, wi, names, metric_idx = cols.header, cols.si, cols.wi, cols.names, cols.metric_idx
    line0 = cols.lines if cols.start is not None else 0  # reader.line_num counts from where it started
    bad_cells = 0
    for r, row in enumerate(_rows(reader, rb, line0), cols.rows):
        if not row:
            continue
        if len(row) != len(header):
            rb.skip_line(line0 + reader.line_num, f"{len(row)} cells, the header has {len(header)}")
            continue
        step = to_step(row[si].strip()) if si is not None else r
        if step is None:
            rb.skip_line(line0 + reader.line_num, f"step {row[si][:40]!r} is not an int64 number")
            continue
        wall = None
        if wi is not None:
            try:
                wall = float(row[wi])
            except ValueError:
                wall = None
        for i in metric_idx:
            cell = row[i].strip()
            if not cell:
                continue
            try:
                rb.add(names[i], step, float(cell), wall)
            except ValueError:
                bad_cells += 1
    cols.bad_cells += bad_cells


def _finish(cols: _Columns, rb: RunBuilder) -> None:
    if cols.bad_cells:
        rb.skipped.append(f"{cols.bad_cells} non-numeric cell(s) skipped")
    if cols.step_col and cols.step_col.lower() == "epoch":
        rb.metadata["step_unit"] = "epoch"
    if cols.si is None:
        rb.skipped.append("no step column (step/global_step/epoch/...): steps are row indices")
    if not rb.builders:
        raise rb.no_metrics(f"no numeric metric columns found (columns: {', '.join(cols.header[:10])})")


def _rows(reader, rb: RunBuilder, line0: int = 0):  # noqa: ANN001 - a csv reader
    """The reader's rows; a row the csv module rejects (a field over its size limit, a NUL) is skipped and
    counted, and reading goes on at the next line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            rb.skip_line(line0 + reader.line_num, f"not readable CSV ({e})")


# --- the bulk path -------------------------------------------------------------------------------------------


def _crlf(chunk: bytes) -> bytes | None:
    """\\r\\n line ends (Python's csv writer, so Lightning's CSVLogger, writes them) as \\n; None when a \\r
    stands alone (the csv module ends a line there too: the row path reads such a block)."""
    if b"\r" not in chunk:
        return chunk
    if chunk.count(b"\r") != chunk.count(b"\r\n"):
        return None
    return chunk.replace(b"\r\n", b"\n")


def _plain(chunk: bytes, np) -> bool | None:  # noqa: ANN001 - numpy
    """Whether the csv module would read `chunk` as its lines split at the delimiter: no quote, a carriage
    return only before a line end (\\r\\n), no control byte but tab and newline (str.strip() and float()
    agree on the whitespace left), only ASCII (no decoding, no U+FFFD note); None when it would not, else
    whether it has \\r\\n line ends. (Lines over the csv module's field size limit: _block.)"""
    if b'"' in chunk or not chunk.isascii():
        return None
    b = np.frombuffer(chunk, np.uint8)
    at = np.flatnonzero(b < 32)  # control bytes: line ends, mostly
    c = b[at]
    if not ((c == 10) | (c == 9) | (c == 13)).all():
        return None
    cr = at[c == 13]
    if cr.size and not (b[np.minimum(cr + 1, b.size - 1)] == 10).all():  # (a last \r: itself, not 10)
        return None
    return bool(cr.size)


def _bulk(fb, offset: int, cols: _Columns, rb: RunBuilder, delim: str, np) -> None:  # noqa: ANN001
    """Read blocks of plain lines in bulk; at the first block that is not plain, set cols.start to its offset
    (the csv module reads on from there)."""
    carry = b""
    d = delim.encode()
    while True:
        data = fb.read(BLOCK)
        buf = carry + data
        if not data:
            if buf:  # the last line, without a line end
                if not _block(buf + b"\n", cols, rb, d, np):
                    cols.start = offset
            return
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > max(BLOCK, csv.field_size_limit()):  # a line this long: the csv module takes it
                cols.start = offset
                return
            carry = buf
            continue
        chunk, carry = buf[: cut + 1], buf[cut + 1 :]
        if not _block(chunk, cols, rb, d, np):
            cols.start = offset
            return
        offset += len(chunk)


def _block(chunk: bytes, cols: _Columns, rb: RunBuilder, d: bytes, np) -> bool:  # noqa: ANN001 - numpy
    """Read one block of whole lines in bulk, exactly as the row path would; False (nothing read) when the
    block is not plain. The cells are found with numpy (their ends: the delimiters and line ends) and their
    numbers parsed in place (_numbers): no Python object per cell."""
    cr = _plain(chunk, np)
    if cr is None:
        return False
    H = len(cols.header)
    b = np.frombuffer(chunk, np.uint8)
    sep = np.flatnonzero((b == d[0]) | (b == 10))  # cell ends
    nl_at = np.flatnonzero(b[sep] == 10)
    nl = sep[nl_at]
    n = len(nl)
    ends, crlf = sep, np.zeros(n, bool)
    if cr:  # a line's last cell ends before its \r
        crlf = b[np.maximum(nl - 1, 0)] == 13
        ends = sep.copy()
        ends[nl_at[crlf]] -= 1
    line_len = np.diff(nl, prepend=-1) - 1 - crlf  # its bytes, not its line end
    if n and int(line_len.max()) >= csv.field_size_limit():
        return False
    per_line = np.diff(nl_at, prepend=-1)  # cells per line
    ok = per_line == H  # H cells (a row the row path reads); empty lines are empty rows
    lineno = cols.lines + 1 + np.arange(n)  # the physical line number of each line
    skips: list[tuple[int, str]] = [(int(lineno[i]), f"{int(per_line[i])} cells, the header has {H}")
                                    for i in np.flatnonzero(~ok & (line_len > 0)).tolist()]
    rows = np.flatnonzero(ok)
    at = (np.cumsum(per_line) - H)[rows][:, None] + np.arange(H)  # (rows, H): each cell's end among sep
    cell_end = ends[at]
    cell_start = np.concatenate(([-1], sep))[at] + 1  # after the separator before it
    buf = _numbers.pad(np, chunk)
    keep = np.ones(len(rows), bool)
    if cols.si is not None:
        steps = _steps(chunk, buf, cell_start[:, cols.si], cell_end[:, cols.si], rows, lineno, skips, keep, np)
    else:
        steps = cols.rows + rows  # every line is a row of the csv module's
    for ln, why in sorted(skips):
        rb.skip_line(ln, why)
    walls = present = None
    if cols.wi is not None:
        walls, present = _walls(chunk, buf, cell_start[:, cols.wi], cell_end[:, cols.wi], np)
    cols.rows += n
    cols.lines += n
    found = []
    filled = cell_end > cell_start
    picked = [(i, np.flatnonzero(filled[:, i] & keep)) for i in cols.metric_idx]
    picked = [(i, sel) for i, sel in picked if len(sel)]
    if picked:
        s = np.concatenate([cell_start[sel, i] for i, sel in picked])
        e = np.concatenate([cell_end[sel, i] for i, sel in picked])
        p = _numbers.parse(np, buf, s + _numbers.PAD, e + _numbers.PAD, json=False)
        k = 0
        for i, sel in picked:
            part = slice(k, k + len(sel))
            k += len(sel)
            vals, ok_ = p.value[part], p.ok[part]
            if not ok_.all():  # blank or odd cells: cell by cell, as the row path
                sel, vals = _cells(chunk, s[part], e[part], sel, vals, ok_, cols, np)
                if not len(sel):
                    continue
            found.append((int(rows[sel[0]]), i, sel, vals))
    for _, i, _, _ in sorted(found, key=lambda t: t[:2]):  # new series in the order the row path makes them
        rb.series(cols.names[i])
    for _, i, sel, vals in found:
        w = None
        if walls is not None and present[sel].any():
            w = array("d", walls[sel].tobytes())
        rb.series(cols.names[i]).extend(array("q", steps[sel].astype(np.int64).tobytes()), array("d", vals.tobytes()), w)
    return True


def _steps(chunk: bytes, buf, s, e, rows, lineno, skips: list, keep, np):  # noqa: ANN001, ANN202 - numpy arrays
    """The step of each row (its integer where int(float(text)) is that integer, else to_step as the row path);
    rows without one are skipped (keep[row] = False) with the row path's reason."""
    p = _numbers.parse(np, buf, s + _numbers.PAD, e + _numbers.PAD, json=False)
    exact = p.int_ok & (np.abs(p.int_value) < _EXACT_INT)
    steps = np.where(exact, p.int_value, 0)
    for k in np.flatnonzero(~exact).tolist():
        text = chunk[s[k] : e[k]].decode("ascii")
        step = to_step(text.strip())
        if step is None:
            keep[k] = False
            skips.append((int(lineno[rows[k]]), f"step {text[:40]!r} is not an int64 number"))
        else:
            steps[k] = step
    return steps


def _walls(chunk: bytes, buf, s, e, np):  # noqa: ANN001, ANN202 - numpy arrays
    """Wall time per row as float(cell) (NaN where it is not a number) and where it was one."""
    p = _numbers.parse(np, buf, s + _numbers.PAD, e + _numbers.PAD, json=False)
    w, present = p.value, p.ok.copy()
    for k in np.flatnonzero(~present).tolist():
        try:
            w[k] = float(chunk[s[k] : e[k]])
            present[k] = True
        except ValueError:
            w[k] = np.nan
    return w, present


def _cells(chunk: bytes, s, e, sel, vals, ok, cols: _Columns, np):  # noqa: ANN001, ANN202 - numpy arrays
    """The cells the bulk parse left, as the row path reads them: blank ones skipped, non-numeric ones
    counted; (rows kept, values)."""
    keep = ok.copy()
    for k in np.flatnonzero(~ok).tolist():
        c = chunk[s[k] : e[k]].strip()
        if not c:
            continue
        try:
            vals[k] = float(c)
        except ValueError:
            cols.bad_cells += 1
            continue
        keep[k] = True
    return sel[keep], vals[keep]
