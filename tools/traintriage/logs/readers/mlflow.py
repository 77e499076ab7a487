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

from traintriage.logs.model import LogReadError, Run, RunBuilder

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
        meta = (r / "meta.yaml").read_text(encoding="utf-8", errors="replace") if (r / "meta.yaml").exists() else ""
        if "lifecycle_stage: deleted" in meta or ".trash" in r.parts:
            rb.skipped.append(f"run {r.name}: deleted; skipped")
            continue
        live.append(r)
    multi = len(live) > 1
    rb.metadata["runs"] = []
    bad_lines = 0
    for r in live:
        name_file = r / "tags" / "mlflow.runName"
        name = name_file.read_text(encoding="utf-8").strip() if name_file.exists() else r.name
        rb.metadata["runs"].append({"id": r.name, "name": name})
        params = {p.name: p.read_text(encoding="utf-8", errors="replace").strip()
                  for p in (r / "params").glob("*") if p.is_file()} if (r / "params").is_dir() else {}
        if params:
            rb.metadata.setdefault("params", {}).update(params)
        prefix = f"{name}/" if multi else ""
        mdir = r / "metrics"
        for mf in sorted(p for p in mdir.rglob("*") if p.is_file()):
            metric = prefix + str(mf.relative_to(mdir)).replace("\\", "/")
            with mf.open("rb") as fh:
                for i, line in enumerate(fh):
                    parts = line.split()
                    if not parts:
                        continue
                    try:
                        ts, val = float(parts[0]), float(parts[1])
                        step = int(parts[2]) if len(parts) > 2 else i
                    except (ValueError, IndexError):
                        bad_lines += 1
                        continue
                    rb.add(metric, step, val, ts / 1000.0)
    if bad_lines:
        rb.skipped.append(f"{bad_lines} unreadable metric line(s) skipped (expected 'timestamp value step')")
    if not rb.builders:
        raise LogReadError(f"{path}: the MLflow runs have no metrics")
    return rb.finish()


def _read_sqlite(path: Path) -> Run:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
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
                names[uuid] = name or uuid[:8]
                if stage == "deleted":
                    deleted.add(uuid)
        if "params" in tables:
            rb.metadata["params"] = {k: v for k, v in con.execute("SELECT key, value FROM params")}
        run_ids = [r[0] for r in con.execute("SELECT DISTINCT run_uuid FROM metrics")]
        live = [r for r in run_ids if r not in deleted]
        if len(live) < len(run_ids):
            rb.skipped.append(f"{len(run_ids) - len(live)} deleted run(s) skipped")
        rb.metadata["runs"] = [{"id": r, "name": names.get(r, r[:8])} for r in live]
        multi = len(live) > 1
        rows = con.execute(
            "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics ORDER BY timestamp, step"
        )
        for uuid, key, value, ts, step, is_nan in rows:
            if uuid in deleted:
                continue
            name = f"{names.get(uuid, uuid[:8])}/{key}" if multi else key
            rb.add(name, int(step or 0), float("nan") if is_nan else float(value), (ts or 0) / 1000.0)
    except sqlite3.DatabaseError as e:
        raise LogReadError(f"{path}: unreadable sqlite database ({e})") from e
    finally:
        con.close()
    if not rb.builders:
        raise LogReadError(f"{path}: the MLflow database has no metrics")
    return rb.finish()
