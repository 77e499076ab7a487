"""MLflow tracking stores, read directly (no mlflow package needed).

- The file store (`mlruns/`): `<experiment>/<run>/metrics/<name>` holds lines `timestamp value step`
  (timestamp in ms; old files have no step: the line index is used); metric names with '/' are nested
  folders; `params/` and `tags/mlflow.runName` become metadata. Pass `mlruns/`, an experiment or a run folder.
- The sqlite store (`mlflow.db`): table `metrics(key, value, timestamp, run_uuid, step, is_nan)`.
With several runs, series are named `<run name or id>/<metric>`. Deleted runs are skipped and reported.
Source: https://github.com/mlflow/mlflow/blob/master/mlflow/store/tracking/file_store.py and
mlflow/store/tracking/dbmodels/models.py (SqlMetric).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_float, to_step
from traintriage.logs.readers._common import MAX_LINE_BYTES, is_regular, lines

FORMAT = "mlflow"
SQLITE_MAGIC = b"SQLite format 3\x00"


def _run_dirs(path: Path) -> list[Path]:
    if (path / "metrics").is_dir():
        return [path]
    if path.name == "metrics" and path.is_dir():
        return [path.parent]
    return sorted(p.parent for p in path.rglob("metrics") if p.is_dir() and (p.parent / "meta.yaml").exists())


def sniff(path: Path) -> bool:
    if path.is_dir():
        return bool(_run_dirs(path))
    if not is_regular(path):
        return False
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def read(path: Path) -> Run:
    if path.is_file():
        return _read_sqlite(path)
    runs = _run_dirs(path)
    if not runs:
        raise LogReadError(f"{path}: no MLflow runs (folders with meta.yaml and metrics/) found")
    rb = RunBuilder(str(path), FORMAT)
    live = []
    for r in runs:
        meta = _text(r / "meta.yaml")
        if "lifecycle_stage: deleted" in meta or ".trash" in r.parts:
            rb.skipped.append(f"run {r.name}: deleted; skipped")
            continue
        live.append(r)
    multi = len(live) > 1
    rb.metadata["runs"] = []
    nfile = 0
    for r in live:
        name = _text(r / "tags" / "mlflow.runName").strip() or r.name
        rb.metadata["runs"].append({"id": r.name, "name": name})
        params = {p.name: _text(p).strip() for p in (r / "params").glob("*")} if (r / "params").is_dir() else {}
        if params:
            rb.metadata.setdefault("params", {}).update(params)
        prefix = f"{name}/" if multi else ""
        mdir = r / "metrics"
        for mf in sorted(p for p in mdir.rglob("*") if p.is_file()):
            metric = prefix + str(mf.relative_to(mdir)).replace("\\", "/")
            nfile += 1
            with mf.open("rb") as fh:
                for lineno, line in lines(fh, MAX_LINE_BYTES):
                    why = _metric_line(line, lineno - 1, metric, rb)
                    if why:
                        rb.skip_line(lineno, f"metrics/{mf.relative_to(mdir)}: {why}")
    if nfile > 1 and rb.skipped_lines:
        rb.skipped.append("line numbers of skipped lines count within each metric file")
    if not rb.builders:
        raise rb.no_metrics("the MLflow runs have no metrics")
    return rb.finish()


def _text(p: Path) -> str:
    """A small text file of the store (meta.yaml, a tag, a param); '' when absent or not a regular file."""
    if not is_regular(p):
        return ""
    return p.read_bytes()[:MAX_LINE_BYTES].decode("utf-8", "replace")


def _metric_line(line: bytes | None, index: int, metric: str, rb: RunBuilder) -> str | None:
    """Add one `timestamp value step` line; the reason it was skipped, or None."""
    if line is None:
        return f"longer than {MAX_LINE_BYTES} bytes"
    parts = line.split()
    if not parts:
        return None
    if len(parts) < 2:
        return "expected 'timestamp value step'"
    ts, val = to_float(parts[0].decode("ascii", "replace")), to_float(parts[1].decode("ascii", "replace"))
    step = to_step(parts[2]) if len(parts) > 2 else index
    if ts is None or val is None or step is None:
        return "expected 'timestamp value step' (numbers; the step an int64)"
    rb.add(metric, step, val, ts / 1000.0)
    return None


def _read_sqlite(path: Path) -> Run:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise LogReadError(f"{path}: cannot open as sqlite ({e})") from e
    rb = RunBuilder(str(path), FORMAT)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "metrics" not in tables:
            raise LogReadError(f"{path}: a sqlite database without a 'metrics' table: not an MLflow store")
        names = {}
        deleted = set()
        if "runs" in tables:
            for uuid, name, stage in con.execute("SELECT run_uuid, name, lifecycle_stage FROM runs"):
                names[uuid] = str(name or str(uuid)[:8])
                if stage == "deleted":
                    deleted.add(uuid)
        if "params" in tables:
            rb.metadata["params"] = {k: v for k, v in con.execute("SELECT key, value FROM params")}
        run_ids = [r[0] for r in con.execute("SELECT DISTINCT run_uuid FROM metrics")]
        live = [r for r in run_ids if r not in deleted]
        if len(live) < len(run_ids):
            rb.skipped.append(f"{len(run_ids) - len(live)} deleted run(s) skipped")
        rb.metadata["runs"] = [{"id": str(r), "name": names.get(r, str(r)[:8])} for r in live]
        multi = len(live) > 1
        rows = con.execute(
            "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics ORDER BY timestamp, step"
        )
        for n, (uuid, key, value, ts, step, is_nan) in enumerate(rows, 1):
            if uuid in deleted:
                continue
            name = f"{names.get(uuid, str(uuid)[:8])}/{key}" if multi else str(key)
            st, x, t = to_step(step or 0), float("nan") if is_nan else to_float(value), to_float(ts or 0)
            if st is None or x is None or t is None:  # sqlite columns take any type: a text or huge step
                rb.skip_line(n, f"metrics row {n} ({str(key)[:40]}): step, value or timestamp not a number")
                continue
            rb.add(name, st, x, t / 1000.0)
    except sqlite3.Error as e:
        raise LogReadError(f"{path}: unreadable sqlite database ({e})") from e
    finally:
        con.close()
    if not rb.builders:
        raise rb.no_metrics("the MLflow database has no metrics")
    return rb.finish()
