"""Run untrusted Python (a model's program under unit tests) in a separate, confined process.

What is enforced, and by what:
- **a fresh process** in a new session, killed (its whole process group) at ``timeout_s``;
- **resource limits** set in the child before user code runs: RLIMIT_AS (memory), RLIMIT_CPU,
  RLIMIT_FSIZE (largest file it may write, stdout/stderr included), RLIMIT_NPROC (processes and
  threads it may start; 0 by default), RLIMIT_CORE 0. The kernel exempts root from RLIMIT_NPROC, and an
  unprivileged uid cannot read a root-owned interpreter under /root, so a trainer running as root gets
  no process limit: ``confinement`` then lacks ``nproc`` (run the trainer as a normal user to have it);
- **writes only inside its temporary directory**: a Linux Landlock ruleset (kernel >= 5.13) handles every
  write, create, remove and rename right and grants them beneath that directory only. Reads are not
  confined (the interpreter and the standard library must load), so a program can read files this user
  can read; keep secrets out of reach of the trainer's user;
- **no network**: a new network namespace with no interfaces (``unshare -n`` as root, ``unshare -rn``
  otherwise, where user namespaces are allowed), and Landlock's TCP bind/connect denial (ABI >= 4); the
  child's ``socket.socket`` also raises and no proxy variables are passed. Without both kernel mechanisms network is blocked only at the Python
  level, which native code can bypass; ``SandboxResult.confinement`` names what held for a run.
``run_python`` refuses to run (``SandboxUnavailable``) when Landlock is missing, unless told to allow it.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture Linux has (asm-generic)
LANDLOCK_CREATE_RULESET_VERSION = 1
SETUP_FAILED = 97  # the child's exit status when it cannot confine itself


class SandboxUnavailable(RuntimeError):
    """This kernel cannot confine the child's writes (no Landlock)."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = field(default=10.0)
    memory_mb: int = 1024
    cpu_s: int = 10
    file_mb: int = 16
    processes: int = 0  # RLIMIT_NPROC for the child's user: 0 means it can start no process or thread


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None  # None when it was killed at the timeout
    stdout: str
    stderr: str
    timed_out: bool
    confinement: tuple[str, ...]  # what held: rlimits, nproc, landlock-fs, landlock-net, netns, python-socket

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@functools.lru_cache(maxsize=1)
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(version))


@functools.lru_cache(maxsize=1)
def network_prefix() -> tuple[str, ...]:
    """The command prefix that starts the child in an empty network namespace, () when none works."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    prefix = (unshare, "-n") if os.geteuid() == 0 else (unshare, "-rn")
    try:
        works = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        works = False
    return prefix if works else ()


def run_python(files: dict[str, str], main: str, limits: SandboxLimits = SandboxLimits(),
               allow_unconfined_writes: bool = False) -> SandboxResult:
    """Write ``files`` (name -> source) into a fresh temporary directory and run ``main`` there."""
    abi = landlock_abi()
    if abi == 0 and not allow_unconfined_writes:
        raise SandboxUnavailable("this kernel has no Landlock (Linux >= 5.13 with landlock enabled), so the "
                                 "sandbox cannot keep a program's writes inside its directory")
    confinement = ["rlimits", "python-socket"] + (["landlock-fs"] if abi else [])
    confinement += ["landlock-net"] if abi >= 4 else []
    prefix = list(network_prefix())
    if prefix:
        confinement.append("netns")
    if os.geteuid() != 0:
        confinement.append("nproc")
    with tempfile.TemporaryDirectory(prefix="seqdiff-sandbox-") as work, \
            tempfile.TemporaryDirectory(prefix="seqdiff-sandbox-out-") as out:
        for name, source in files.items():
            path = Path(work) / name
            if path.resolve().parent != Path(work).resolve():
                raise ValueError(f"sandbox file name {name!r} must be a plain file name")
            path.write_text(source, encoding="utf-8")
        settings = {"work": work, "main": main, "abi": abi, "limits": limits.__dict__}
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1", "no_proxy": "*"}
        with open(Path(out) / "stdout", "wb") as stdout, open(Path(out) / "stderr", "wb") as stderr:
            proc = subprocess.Popen(prefix + [sys.executable, "-I", "-c", BOOTSTRAP, json.dumps(settings)],
                                    cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                    start_new_session=True)
            try:
                code, timed_out = proc.wait(timeout=limits.timeout_s), False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code, timed_out = None, True
        read = lambda name: (Path(out) / name).read_bytes()[-20_000:].decode("utf-8", "replace")  # noqa: E731
        if code == SETUP_FAILED and "sandbox setup failed" in read("stderr"):
            raise SandboxUnavailable(read("stderr").strip())
        return SandboxResult(code, read("stdout"), read("stderr"), timed_out, tuple(confinement))


# Runs in the child before any user code: limits, Landlock, no sockets, then the program as __main__.
BOOTSTRAP = r'''
import ctypes, json, os, resource, runpy, socket, sys
cfg = json.loads(sys.argv[1]); lim = cfg["limits"]; work = cfg["work"]
def fail(why):
    sys.stderr.write("sandbox setup failed: %s\n" % why); sys.stderr.flush(); os._exit(97)
try:
    mb = 1 << 20
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
except (OSError, ValueError) as err:
    fail("resource limits: %s" % err)
abi = cfg["abi"]
if abi:
    libc = ctypes.CDLL(None, use_errno=True)
    write = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write file, remove, make *
    if abi >= 2: write |= 1 << 13  # refer (rename/link across directories)
    if abi >= 3: write |= 1 << 14  # truncate
    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64)]
    class Beneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]
    rules = Ruleset(write, 3 if abi >= 4 else 0)  # net: bind and connect TCP
    size = ctypes.sizeof(Ruleset) if abi >= 4 else 8
    fd = libc.syscall(444, ctypes.byref(rules), ctypes.c_size_t(size), 0)
    if fd < 0: fail("landlock_create_ruleset errno %d" % ctypes.get_errno())
    dfd = os.open(work, os.O_PATH | os.O_DIRECTORY)
    if libc.syscall(445, fd, 1, ctypes.byref(Beneath(write, dfd)), 0) != 0:
        fail("landlock_add_rule errno %d" % ctypes.get_errno())
    os.close(dfd)
    if libc.prctl(38, 1, 0, 0, 0) != 0: fail("no_new_privs errno %d" % ctypes.get_errno())
    if libc.syscall(446, fd, 0) != 0: fail("landlock_restrict_self errno %d" % ctypes.get_errno())
    os.close(fd)
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["processes"],) * 2)
except (OSError, ValueError) as err:
    fail("RLIMIT_NPROC: %s" % err)
def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the seqdiff sandbox")
socket.socket = socket.create_connection = socket.socketpair = _no_network
sys.argv = [cfg["main"]]
sys.path.insert(0, work)
del cfg, lim, work
runpy.run_path(sys.argv[0], run_name="__main__")
'''
