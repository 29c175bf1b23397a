"""Child processes that never outlive us: free loopback ports, parent-death signal, process groups."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: every socket stays bound until all are picked (picking them
    one by one can hand the same port out twice, and a server then cannot bind its second listener)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def await_http(process, url: str, timeout_s: float, poll_s: float = 0.3) -> str:
    """Wait for a started server: ``ready`` once ``url`` answers 200, ``exited`` when the process ended
    first, ``timeout`` when neither happened in ``timeout_s``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return "ready"
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    return "timeout"


def die_with_parent() -> None:
    """``preexec_fn``: the kernel SIGKILLs the child when the thread that started it dies (Linux)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(process, grace_s: float) -> None:
    """SIGTERM ``process``'s group, SIGKILL after ``grace_s`` (every member, even when the leader exited), and
    wait until no member is left (at most ``grace_s`` more)."""
    if process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    signal_group(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + grace_s
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
