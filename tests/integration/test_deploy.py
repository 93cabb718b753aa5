"""examples/deploy/lobbykit.service: systemd accepts it (systemd-analyze verify, when this
machine has it), the command line it runs is one lobbykit-server takes, and its limits fit
what docs/deployment.md promises (100,000 connections; a stop that outlasts the drain)."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, server_binary

UNIT = ROOT / "examples" / "deploy" / "lobbykit.service"


def unit_values(key: str) -> list:
    return [line.split("=", 1)[1].strip() for line in UNIT.read_text().splitlines()
            if line.startswith(key + "=")]


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at the binary under test."""
    text = UNIT.read_text().replace("/usr/local/bin/lobbykit-server", server_binary())
    out = tmp_path / "lobbykit.service"
    out.write_text(text)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit_without_a_warning(tmp_path):
    out = subprocess.run(["systemd-analyze", "verify", str(local_unit(tmp_path))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # verify exits 0 on unknown keys and bad values, with a warning naming the file.
    assert "lobbykit.service" not in out.stderr, out.stderr


def test_the_limits_fit_100000_connections_and_the_drain():
    assert int(unit_values("LimitNOFILE")[0]) >= 100_000 + 1_000
    exec_start = shlex.split(unit_values("ExecStart")[0])
    drain_ms = int(exec_start[exec_start.index("--drain-ms") + 1])
    stop = re.fullmatch(r"(\d+)s", unit_values("TimeoutStopSec")[0])
    assert stop and int(stop.group(1)) * 1000 >= drain_ms + 5_000
    assert unit_values("KillSignal") == ["SIGTERM"]
    assert unit_values("ExecReload") == ["/bin/kill -HUP $MAINPID"]


def test_the_units_command_line_starts_the_server(tmp_path):
    args = shlex.split(unit_values("ExecStart")[0].replace("${STATE_DIRECTORY}", str(tmp_path)))
    args[0] = server_binary()
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    proc = subprocess.Popen(args + ["--no-static"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGTERM)  # nobody connected: the drain ends at once
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()
    assert (tmp_path / "lobbykit.db").exists()
