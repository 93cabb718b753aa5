"""The host examples of docs/embedding.md run as they are documented: each is a whole program
that checks what it shows and prints '<name>: ok'."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_example(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))


def test_moderated_host():
    done = run_example(ROOT / "examples" / "python" / "moderated_host.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "moderated_host: ok" in done.stdout
    assert "Mallory: denied (not_invited)" in done.stdout
    assert "Ada: denied (banned_word)" in done.stdout
