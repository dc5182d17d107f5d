"""The embedded emulator listens on 127.0.0.1 only."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest


def listeners(port: int) -> list[str]:
    """Local addresses (hex, as the kernel writes them) listening on a TCP port."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, state = fields[1], fields[3]
            host, hex_port = addr.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                out.append(host)
    return out


def test_embedded_emulator_binds_loopback_only(endpoint: str) -> None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("the emulator was started outside this test session (AWS_ENDPOINT_URL); its binding is not ours")
    # In a container (TEST_CONTAINERS=1) the listener is Docker's proxy for the published port: loopback too.
    port = urlparse(endpoint).port
    assert port is not None
    found = listeners(port)
    assert found, f"nothing listens on {port}"
    assert set(found) == {"0100007F"}, found  # 127.0.0.1, and no 0.0.0.0 or IPv6 wildcard
