"""What the server exposes without being asked: /metrics (opt-in, on its own listener),
files in the data directory (owner-only whatever the directory's mode), and a loud
warning when it listens beyond loopback in clear text."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import urllib.request
from collections.abc import Callable

import pytest
from attackkit import RawClient
from serverproc import TesseraServer, free_port


def test_metrics_are_not_served_on_the_api_listener(raw: RawClient) -> None:
    reply = raw.request("GET", "/metrics", b"", [])
    assert reply.status != 200
    assert "tessera_requests" not in reply.text


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"], ids=["loopback", "wildcard"])
def test_metrics_are_served_only_on_the_configured_listener(fresh_target: Callable[..., TesseraServer], host: str) -> None:
    metrics_port = free_port()
    server = fresh_target(args=["--metrics-listen", f"{host}:{metrics_port}"])
    server.client("sts").get_caller_identity()
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30) as reply:
        assert "tessera_requests_total" in reply.read().decode()
    raw = RawClient(server)
    assert "tessera_requests" not in raw.request("GET", "/metrics", b"", []).text
    # and the metrics listener answers nothing but metrics (and health)
    request = urllib.request.Request(f"http://127.0.0.1:{metrics_port}/", data=b"Action=GetCallerIdentity&Version=2011-06-15")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    refused.value.close()
    assert refused.value.code == 404, "the metrics listener served an API call"


def test_every_file_in_a_0755_data_directory_is_created_0600() -> None:
    data_dir = tempfile.mkdtemp(prefix="tessera-e2e-")
    os.chmod(data_dir, 0o755)
    previous = os.umask(0o022)  # the server inherits a permissive umask
    server = TesseraServer(data_dir=data_dir, env_extra={"TESSERA_ROOT_ACCESS_KEY_ID": "", "TESSERA_ROOT_SECRET_ACCESS_KEY": ""})
    try:
        server.start()
        names = {"tessera.db", "tessera.db-wal", "tessera.db-shm", "master.key", "root-credentials"}
        found = {
            name: stat.S_IMODE(os.stat(os.path.join(data_dir, name)).st_mode)
            for name in os.listdir(data_dir)
            if not name.startswith("server-")
        }
        assert names <= set(found), found
        assert {name: mode for name, mode in found.items() if mode != 0o600} == {}
    finally:
        os.umask(previous)
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_listening_beyond_loopback_without_tls_warns_loudly(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(args=["--host", "0.0.0.0"])
    assert "without TLS" in server.log()
    quiet = fresh_target()
    assert "without TLS" not in quiet.log()
