"""In the child: redirect the script's ordinary writes into the probe's folder, and let it read them back.

The kernel layer (sandbox.py) refuses every write outside the probe's folder; this layer sits on top so that
a script that saves a checkpoint, writes a config or makes a log folder next to itself still succeeds: open()
for writing, os.makedirs/mkdir, torch.save and TensorBoard's SummaryWriter are pointed into a mirror of the
path under the sandbox folder. W&B and MLflow are pointed at the sandbox through their env vars by the runner.

What was written through the redirect reads back at its original path: open() for reading, torch.load,
os.stat (and so os.path.exists/isdir/isfile and Path.exists), os.listdir and os.scandir see the mirror (issue 12:
a config writer checks that the log folder it just made exists).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from typing import Any


def redirect_writes(sandbox: str) -> None:
    """Install the redirect for the rest of the process (the harness calls it before the user's script runs)."""
    import torch

    # Only the probe's own folder is exempt: the user's project may itself live under /tmp.
    roots = {os.path.realpath(os.path.dirname(sandbox)), "/dev", "/proc", "/sys"}
    mirror = os.path.join(sandbox, "fs")
    real_makedirs = os.makedirs
    real_open = builtins.open
    real_stat = os.stat
    real_listdir = os.listdir
    real_scandir = os.scandir

    def exists(p: str) -> bool:
        try:
            real_stat(p)
        except (OSError, ValueError):
            return False
        return True

    def outside(path: str) -> bool:
        rp = os.path.realpath(path)
        return not any(rp == r or rp.startswith(r + os.sep) for r in roots)

    def mirrored(p: str) -> str:
        return os.path.join(mirror, os.path.abspath(p).lstrip(os.sep))

    def redirect(path: Any) -> Any:
        try:
            p = os.fspath(path)
        except TypeError:
            return path
        if isinstance(p, bytes) or not outside(p):
            return path
        target = mirrored(p)
        real_makedirs(os.path.dirname(target), exist_ok=True)
        return target

    def for_read(path: Any) -> Any:
        try:
            p = os.fspath(path)
        except TypeError:
            return path
        if isinstance(p, bytes):
            return path
        target = mirrored(p)
        return target if exists(target) else path

    def is_write(mode: str) -> bool:
        return any(c in mode for c in "wax+")

    def sb_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if isinstance(file, int):
            return real_open(file, mode, *a, **k)
        if not is_write(mode):
            return real_open(for_read(file), mode, *a, **k)
        target = redirect(file)
        if target is not file and ("a" in mode or "+" in mode) and not exists(target):
            try:
                if os.path.isfile(file):  # appending/updating: start from a copy of the user's file
                    shutil.copyfile(file, target)
            except (OSError, TypeError):
                pass
        return real_open(target, mode, *a, **k)

    builtins.open = sb_open
    io.open = sb_open

    def sb_makedirs(name: Any, *a: Any, **k: Any) -> Any:
        return real_makedirs(redirect(name), *a, **k)

    real_mkdir = os.mkdir

    def sb_mkdir(path: Any, *a: Any, **k: Any) -> Any:
        return real_mkdir(redirect(path), *a, **k)

    os.makedirs = sb_makedirs
    os.mkdir = sb_mkdir

    # read-back views of the mirror (os.path.exists/isdir/isfile and pathlib go through os.stat)
    def sb_stat(path: Any, *a: Any, **k: Any) -> Any:
        return real_stat(for_read(path), *a, **k)

    def sb_listdir(path: Any = ".") -> Any:
        names = real_listdir(path) if exists(path) or isinstance(path, int) else None
        target = for_read(path)
        if target is path:
            return real_listdir(path) if names is None else names
        extra = real_listdir(target)
        return extra if names is None else names + [n for n in extra if n not in set(names)]

    def sb_scandir(path: Any = ".") -> Any:
        if isinstance(path, int) or exists(path):
            return real_scandir(path)
        return real_scandir(for_read(path))

    os.stat = sb_stat
    os.listdir = sb_listdir
    os.scandir = sb_scandir

    # metadata changes: Landlock does not cover chmod/chown/utime, so without the read-only namespace only this
    # refuses them outside the probe's folder (a file written through the redirect is changed in the mirror)
    def guarded(fn: Any) -> Any:
        def g(path: Any, *a: Any, **k: Any) -> Any:
            if isinstance(path, int) or k.get("dir_fd") is not None:
                return fn(path, *a, **k)
            target = for_read(path)
            if target is path and outside(os.fspath(path)):
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM) + " (the probe changes no file outside its own folder)",
                                      os.fspath(path))
            return fn(target, *a, **k)

        return g

    os.chmod, os.chown, os.utime = guarded(os.chmod), guarded(os.chown), guarded(os.utime)

    real_save = torch.save

    def sb_save(obj: Any, f: Any, *a: Any, **k: Any) -> Any:
        return real_save(obj, redirect(f), *a, **k)

    torch.save = sb_save
    real_load = torch.load

    def sb_load(f: Any, *a: Any, **k: Any) -> Any:
        return real_load(for_read(f), *a, **k)

    torch.load = sb_load
    try:  # TensorBoard via torch: point the writer into the sandbox
        from torch.utils import tensorboard as tb

        real_init = tb.SummaryWriter.__init__

        def sw_init(self: Any, log_dir: Any = None, *a: Any, **k: Any) -> None:
            real_init(self, os.path.join(sandbox, "tensorboard", os.path.basename(str(log_dir or "runs"))), *a, **k)

        tb.SummaryWriter.__init__ = sw_init
    except Exception:  # noqa: BLE001 - tensorboard not installed: nothing to redirect
        pass
