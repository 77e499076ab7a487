"""CSV logs: Lightning's CSVLogger (wide, sparse rows), Keras' CSVLogger (`epoch,loss,...`), TensorBoard's
"Download CSV" (`Wall time,Step,Value`, one metric per file, named after the file), and generic tables.

The step is the first of global_step/step/_step/iteration/.../epoch present; else the row index. Empty cells
are "not logged this row" (Lightning writes step and epoch metrics on separate rows); non-numeric cells are
counted and reported.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_step
from traintriage.logs.readers._common import STEP_COLUMNS, WALL_COLUMNS, is_regular, pick, regular

FORMAT = "csv"
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
        # Streamed: one row at a time (memory does not follow the file's size). newline="": the csv module
        # sees \r, \r\n and \n line ends itself (a bare \r is a line end, not an error).
        text = io.TextIOWrapper(fb, encoding="utf-8", errors="replace", newline="")
        lines = _Lines(text)
        _read_rows(f, rb, csv.reader(lines, delimiter=delim))
    if lines.replaced:
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


def _read_rows(f: Path, rb: RunBuilder, reader) -> None:  # noqa: ANN001 - a csv reader
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as e:
        raise LogReadError(f"{f}: empty file") from e
    except csv.Error as e:
        raise LogReadError(f"{f}: line 1: the header row is not readable CSV ({e})") from e
    if len(header) < 2 or all(_num(h) for h in header if h):
        raise LogReadError(f"{f}: the first row is not a header of column names ({header[:5]})")
    step_col = pick(header, STEP_COLUMNS)
    wall_col = pick(header, WALL_COLUMNS)
    si = header.index(step_col) if step_col else None
    wi = header.index(wall_col) if wall_col else None
    tb_export = {h.lower() for h in header} == {"wall time", "step", "value"}
    names = [f.stem if (tb_export and h.lower() == "value") else h for h in header]
    metric_idx = [i for i in range(len(header)) if i not in (si, wi) and header[i]]
    if step_col and step_col.lower() == "epoch":
        rb.metadata["step_unit"] = "epoch"
    bad_cells = 0
    for r, row in enumerate(_rows(reader, rb)):
        if not row:
            continue
        if len(row) != len(header):
            rb.skip_line(reader.line_num, f"{len(row)} cells, the header has {len(header)}")
            continue
        step = to_step(row[si].strip()) if si is not None else r
        if step is None:
            rb.skip_line(reader.line_num, f"step {row[si][:40]!r} is not an int64 number")
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
    if bad_cells:
        rb.skipped.append(f"{bad_cells} non-numeric cell(s) skipped")
    if si is None:
        rb.skipped.append("no step column (step/global_step/epoch/...): steps are row indices")
    if not rb.builders:
        raise rb.no_metrics(f"no numeric metric columns found (columns: {', '.join(header[:10])})")


def _rows(reader, rb: RunBuilder):  # noqa: ANN001 - a csv reader
    """The reader's rows; a row the csv module rejects (a field over its size limit, a NUL) is skipped and
    counted, and reading goes on at the next line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            rb.skip_line(reader.line_num, f"not readable CSV ({e})")
