"""The strace reading the network tests rely on: which socket calls count as leaving the machine."""

from __future__ import annotations

import pytest
from network_trace import leaks

TRACE_LINES = {
    'connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0': True,
    'connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0': True,
    'connect(5, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("52.1.2.3")}, 16 <unfinished ...>': True,
    'sendto(4, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("8.8.8.8")}, 16) = 1': True,
    'bind(6, {sa_family=AF_INET, sin_port=htons(8501), sin_addr=inet_addr("0.0.0.0")}, 16) = 0': True,
    'connect(7, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2606:4700::1",'
    " &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH": True,
    'connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT': True,
    'bind(6, {sa_family=AF_INET, sin_port=htons(8501), sin_addr=inet_addr("127.0.0.1")}, 16) = 0': False,
    'connect(9, {sa_family=AF_INET, sin_port=htons(8501), sin_addr=inet_addr("127.0.0.1")}, 16) = 0': False,
    'connect(7, {sa_family=AF_INET6, sin6_port=htons(8501), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1",'
    " &sin6_addr), sin6_scope_id=0}, 28) = 0": False,
    'connect(10, {sa_family=AF_UNIX, sun_path="/tmp/x.sock"}, 110) = 0': False,
    'getsockname(3, {sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr("10.0.0.5")}, [16]) = 0': False,
    "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3": False,
}


@pytest.mark.parametrize(("line", "leaves"), TRACE_LINES.items())
def test_a_trace_line_leaks_when_it_names_a_remote_address_or_dns(line: str, leaves: bool) -> None:
    assert bool(leaks(f"1234 {line}")) is leaves
