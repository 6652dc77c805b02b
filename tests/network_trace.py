"""Run a command under strace and list every way it reached, or could be reached from, beyond the loopback interface.

strace sees native code too (ONNX Runtime's telemetry is C++, the resolver is libc), so a Python-level socket patch
cannot replace it. A finding is any socket call naming a non-loopback address (a connect, a datagram, a listening
socket bound to every interface), any DNS query (port 53, whoever the resolver is) and any lookup through nscd.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["STRACE_NETWORK", "leaks", "require_strace", "strace_command"]

STRACE_NETWORK = ("-f", "-qq", "-e", "trace=network")
ADDRESSED_CALLS = ("connect(", "sendto(", "sendmsg(", "sendmmsg(", "bind(")
IPV4 = re.compile(r'inet_addr\("([^"]+)"\)')
IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
DNS_PORT = 53


def require_strace() -> None:
    """Skip (with the reason) where strace is missing or may not trace (no ptrace in some containers)."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace (apt-get install strace) to see native network calls")
    probe = subprocess.run(["strace", "-qq", "-e", "trace=none", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.strip()[:200]}")


def strace_command(log: Path, command: list[str]) -> list[str]:
    """``command`` under strace, following every thread and child, network calls written to ``log``."""
    return ["strace", *STRACE_NETWORK, "-o", str(log), *command]


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _line_leaks(line: str) -> bool:
    if not any(call in line for call in ADDRESSED_CALLS):
        return False
    if "nscd" in line:  # a name lookup through the name service cache daemon
        return True
    if any(int(port) == DNS_PORT for port in PORT.findall(line)):
        return True
    addresses = IPV4.findall(line) + IPV6.findall(line)
    return any(not _is_loopback(address) for address in addresses)


def leaks(trace: str) -> list[str]:
    """The lines of an strace log that reach beyond loopback, query DNS or listen on every interface."""
    return [line for line in trace.splitlines() if _line_leaks(line)]


def environment_without(*names: str) -> dict[str, str]:
    """This process's environment without ``names`` (to prove the code under test sets them itself)."""
    return {key: value for key, value in os.environ.items() if key not in names}
