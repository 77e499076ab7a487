"""Confine the probe's child with what the kernel offers: namespaces, Landlock, a memory cap, a reaper.

Run as ``python -S .../probe/sandbox.py CONFIG.json -- CMD...`` (runner.py does; stdlib only). Three processes:

- **A** (this module's ``main``) unshares a user + mount + network + PID namespace (unprivileged, no setuid
  helper), maps its own uid, remounts every mount read-only except the probe's own folder and ``/dev/shm``,
  brings up ``lo`` (loopback only: gloo and DataLoader workers need it, nothing else is reachable), then forks;
- **B**, PID 1 of the new PID namespace, is the reaper: it forks C, waits for it, writes C's exit status into
  the probe folder and exits, and when a namespace's init exits the kernel kills every process left in it
  (new sessions and double-forked daemons included). Without a PID namespace B is a child subreaper
  (``PR_SET_CHILD_SUBREAPER``) that kills its remaining descendants itself;
- **C** caps its data segment (``RLIMIT_DATA``), restricts itself with a Landlock ruleset that allows writes only
  beneath the probe's folder and ``/dev``, and execs CMD (the harness). Landlock and the namespace survive exec.

Layers, best first: ``kernel`` (Landlock active, usually with the namespace under it), ``namespace`` (the
read-only mounts without Landlock), ``python`` (only the write redirect of fs_redirect.py, which runs on top
in every layer so that ordinary writes succeed inside the probe folder and read back). What was active is
written to ``sandbox.json`` in the probe folder for the runner's report. The config keys ``no_namespace`` and
``no_landlock`` switch a layer off (the tests run each fallback alone that way).

Limits: RLIMIT_DATA is per process (each DataLoader worker gets its own cap), Landlock does not cover
chmod/chown/utime (the read-only mounts and fs_redirect.py do), and the PID namespace's /proc is the host's.

Sources: landlock(7) and the kernel's Documentation/userspace-api/landlock.rst (uapi structs, ABI versions);
user_namespaces(7), mount_namespaces(7), pid_namespaces(7) ("if the init process of a PID namespace
terminates, the kernel terminates all of the processes in the namespace via SIGKILL"); mount_setattr(2);
prctl(2) (PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG); setrlimit(2) (RLIMIT_DATA counts
private writable mappings since Linux 4.7, so torch's CPU allocator hits it; RLIMIT_AS would also count the
large PROT_NONE reservations CUDA and some allocators make, and break them).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

# Syscall numbers: the same on x86_64 and aarch64 (both use the unified table for these late syscalls).
SYS_MOUNT_SETATTR = 442
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446

# clone(2) flags.
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# mount(2) / mount_setattr(2).
MS_REC = 0x4000
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
# prctl(2).
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
# Highest capability number to drop from the bounding set (CAP_LAST_CAP is 40 on 6.x kernels; extra are ignored).
CAP_LAST = 63
# Landlock uapi (include/uapi/linux/landlock.h).
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_REMOVE_DIR = 1 << 4
ACCESS_FS_REMOVE_FILE = 1 << 5
ACCESS_FS_MAKE_CHAR = 1 << 6
ACCESS_FS_MAKE_DIR = 1 << 7
ACCESS_FS_MAKE_REG = 1 << 8
ACCESS_FS_MAKE_SOCK = 1 << 9
ACCESS_FS_MAKE_FIFO = 1 << 10
ACCESS_FS_MAKE_BLOCK = 1 << 11
ACCESS_FS_MAKE_SYM = 1 << 12
ACCESS_FS_REFER = 1 << 13  # ABI 2
ACCESS_FS_TRUNCATE = 1 << 14  # ABI 3
# Every right that changes the file system, per ABI. Reads and execution are not handled (allowed everywhere),
# nor is IOCTL_DEV (ABI 5): handling it would refuse the ioctls CUDA makes on /dev/nvidia*.
WRITE_RIGHTS_ABI1 = (ACCESS_FS_WRITE_FILE | ACCESS_FS_REMOVE_DIR | ACCESS_FS_REMOVE_FILE | ACCESS_FS_MAKE_CHAR
                     | ACCESS_FS_MAKE_DIR | ACCESS_FS_MAKE_REG | ACCESS_FS_MAKE_SOCK | ACCESS_FS_MAKE_FIFO
                     | ACCESS_FS_MAKE_BLOCK | ACCESS_FS_MAKE_SYM)
# Folders the child may write beneath besides the probe folder: /dev for /dev/null, /dev/shm (DataLoader workers'
# shared memory) and the GPU device nodes CUDA opens read-write; /proc/self for the few files a process writes
# about itself. Creating files under /dev needs root, which the child does not have.
EXTRA_WRITABLE = ("/dev", "/proc/self")
# Mounts to keep writable in the namespace (the probe folder is added at run time).
EXTRA_RW_MOUNTS = ("/dev/shm",)
# ioctl(2) on a socket to bring an interface up (netdevice(7)).
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

# What process C runs: an argv to exec, or (warm.py) a callable that runs the harness in C itself.
Target = list[str] | Callable[[], None]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(rc: int, what: str) -> int:
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return rc


def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers; 0 when it has none (old kernel, or not enabled at boot)."""
    rc = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return int(rc) if rc > 0 else 0


def landlock_restrict(writable: list[str], abi: int) -> None:
    """Allow file-system changes only beneath `writable` for this process and everything it execs."""
    handled = WRITE_RIGHTS_ABI1
    if abi >= 2:
        handled |= ACCESS_FS_REFER
    if abi >= 3:
        handled |= ACCESS_FS_TRUNCATE
    attr = struct.pack("=Q", handled)  # struct landlock_ruleset_attr, handled_access_fs only
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _check(_libc.syscall(SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)),
                "landlock_create_ruleset")
    try:
        for path in writable:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = handled
                if not os.path.isdir(path):  # a file rule takes only the rights that apply to a file
                    rights &= ACCESS_FS_WRITE_FILE | ACCESS_FS_TRUNCATE
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, pfd), 12)  # packed path_beneath
                _check(_libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                     rule, ctypes.c_uint32(0)), f"landlock_add_rule {path}")
            finally:
                os.close(pfd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(fd)


def _mount_setattr(path: str, set_: int, clr: int) -> None:
    attr = ctypes.create_string_buffer(struct.pack("=QQQQ", set_, clr, 0, 0), 32)  # struct mount_attr
    _check(_libc.syscall(SYS_MOUNT_SETATTR, ctypes.c_int(AT_FDCWD), path.encode(), ctypes.c_uint(AT_RECURSIVE),
                         attr, ctypes.c_size_t(32)), f"mount_setattr {path}")


def _mount(src: str | None, dst: str, flags: int) -> None:
    _check(_libc.mount(src.encode() if src else None, dst.encode(), None, ctypes.c_ulong(flags), None),
           f"mount {dst}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _lo_up() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def enter_namespace(rw_paths: list[str]) -> tuple[bool, str | None]:
    """unshare user+mount+net+pid namespaces and make every mount read-only except rw_paths.

    Returns (whether the namespaces exist, None or why the read-only setup failed: the caller then falls back to
    the next layer). The PID namespace takes effect for the next fork."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) != 0:
        e = ctypes.get_errno()
        return False, f"unshare: {os.strerror(e)}"
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        _mount(None, "/", MS_REC | MS_PRIVATE)
        _mount_setattr("/", MOUNT_ATTR_RDONLY, 0)
        for p in rw_paths:
            if os.path.isdir(p):
                _mount(p, p, MS_BIND | MS_REC)
                _mount_setattr(p, 0, MOUNT_ATTR_RDONLY)
        _mount_setattr("/proc", 0, MOUNT_ATTR_RDONLY)  # its own mount: writable again (Landlock: /proc/self only)
        _lo_up()
    except OSError as e:  # the namespaces exist but the mounts are not read-only: not the namespace layer
        return True, f"namespace setup: {e}"
    return True, None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_descendants() -> None:
    """Subreaper fallback: kill and reap everything below this process until nothing is left."""
    for _ in range(50):
        pids = _descendants(os.getpid())
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


def _exit_info(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        return {"code": None, "signal": os.WTERMSIG(status)}
    return {"code": os.WEXITSTATUS(status), "signal": None}


def _reaper(cfg: dict[str, Any], cmd: Target, info: dict[str, Any]) -> int:
    """Process B: fork the confined child C, wait for it, record how it ended, clean up behind it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # A killed (timeout, cancel): B and its PID ns go too
    if not info["pid_namespace"]:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            _confine_and_exec(cfg, cmd, info)
        finally:
            os._exit(127)
    status = 0
    while True:
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if done == pid:
            status = st
            break
    _write(os.path.join(cfg["probe_dir"], "child-exit.json"), json.dumps(_exit_info(status)))
    if not info["pid_namespace"]:
        _kill_descendants()
    # As the PID namespace's init, returning kills every process left in it.
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _confine_and_exec(cfg: dict[str, Any], cmd: Target, info: dict[str, Any]) -> None:
    """Process C: memory cap, Landlock, then exec the harness (or, forked from the warm template, call it)."""
    cap = cfg.get("max_memory")
    if cap:
        resource.setrlimit(resource.RLIMIT_DATA, (int(cap), int(cap)))
    abi = landlock_abi()
    info["landlock_abi"] = abi
    if abi and not cfg.get("no_landlock"):
        try:
            landlock_restrict([cfg["probe_dir"], *EXTRA_WRITABLE], abi)
            info["landlock"] = True
        except OSError as e:
            info["landlock_error"] = str(e)
    if info["namespace"]:  # uid 0 inside the namespace would keep its capabilities across exec: drop them
        for c in range(CAP_LAST + 1):
            _libc.prctl(PR_CAPBSET_DROP, c, 0, 0, 0)
    info["layer"] = "kernel" if info.get("landlock") else "namespace" if info["namespace"] else "python"
    _write(os.path.join(cfg["probe_dir"], "sandbox.json"), json.dumps(info))
    if callable(cmd):
        cmd()  # the harness in this process (warm.py); it ends with os._exit
    else:
        os.execv(cmd[0], cmd)


def main(argv: list[str]) -> int:
    cfg_path, cmd = argv[0], argv[argv.index("--") + 1:]
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    return sandboxed(cfg, cmd)


def sandboxed(cfg: dict[str, Any], cmd: Target) -> int:
    """Process A: enter the namespaces, fork the reaper B, return its exit status. `cmd` is the argv C execs, or a
    callable C runs in place of exec (the warm template's fork already holds the harness). A must be
    single-threaded: unshare(CLONE_NEWUSER) refuses a multi-threaded process (a fresh fork always is)."""
    info: dict[str, Any] = {"namespace": False, "pid_namespace": False, "landlock": False,
                            "max_memory": cfg.get("max_memory")}
    if not cfg.get("no_namespace"):
        info["pid_namespace"], why = enter_namespace([cfg["probe_dir"], *EXTRA_RW_MOUNTS])
        info["namespace"] = info["pid_namespace"] and why is None
        if why:
            info["namespace_error"] = why
    pid = os.fork()
    if pid == 0:
        try:
            code = _reaper(cfg, cmd, info)
        except BaseException:  # noqa: BLE001 - a reaper that fails must still end
            code = 126
        os._exit(code)
    while True:
        try:
            _, st = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    return os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
