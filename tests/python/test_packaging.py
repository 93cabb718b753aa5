"""The package installed, then used with nothing else: the install commands of
docs/python.md ("Install") run as written, from a read-only copy of the checkout, into a
fresh venv (offline, Debian's pip, setuptools and wheel), and `cmake --install` of a build;
each then runs examples/python/host.py from an unrelated directory. Slow (pip builds the
library from scratch). LOBBYKIT_SKIP_PACKAGING=1 skips them."""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import lobbykit
from conftest import ROOT

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(os.environ.get("LOBBYKIT_SKIP_PACKAGING", "") not in ("", "0"),
                       reason="LOBBYKIT_SKIP_PACKAGING is set"),
]

HOST = ROOT / "examples" / "python" / "host.py"
BUILD_TIMEOUT_S = 1800   # a cold build of the library on two cores
RUN_TIMEOUT_S = 120
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# Prints where lobbykit and the liblobbykit it loaded come from.
WHERE = """
import lobbykit
print(lobbykit.__file__)
print(next(line.split()[-1] for line in open("/proc/self/maps") if "liblobbykit" in line))
"""


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def run(cmd, timeout, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, (f"{cmd} exited {proc.returncode}\nstdout:\n"
                                  f"{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc.stdout


def check_host_and_origin(python, env, tmp_path, inside: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run([python, str(HOST)], RUN_TIMEOUT_S, cwd=elsewhere, env=env)
    assert out.rstrip().endswith("ok"), out
    package_file, library = run([python, "-c", WHERE], RUN_TIMEOUT_S, cwd=elsewhere,
                                env=env).split()
    assert Path(package_file).resolve().is_relative_to(inside.resolve()), package_file
    assert Path(library).resolve().is_relative_to(inside.resolve()), library
    assert not Path(library).resolve().is_relative_to(ROOT / "build"), library


def documented_install() -> list:
    """The commands of the sh block under "## Install" in docs/python.md, as written."""
    text = (ROOT / "docs" / "python.md").read_text()
    section = text.split("\n## Install", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def read_only_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, as in the working tree), copied to dest and
    made read-only."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return dest


def tree_state(root: Path) -> dict:
    """Every path under root with its size and mtime (root may write anywhere: the
    permissions alone prove nothing, this does)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in [root, *root.rglob("*")]}


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_the_readme_shows_the_documented_install():
    commands = documented_install()
    assert commands == [
        "/usr/bin/python3 -m venv --system-site-packages ~/lk",
        "~/lk/bin/pip install --no-build-isolation --no-index ./bindings/python"], commands
    readme = (ROOT / "README.md").read_text()
    for command in commands:
        assert command in readme, f"README.md does not show: {command}"


@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
def test_pip_install_as_documented_from_a_read_only_checkout(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    read_only_copy(checkout)
    before = tree_state(checkout)
    home = tmp_path / "home"          # ~/lk of the documented commands
    home.mkdir()
    env = clean_env()
    env["HOME"] = str(home)
    env.pop("LOBBYKIT_PYTHON_BUILD_DIR", None)
    try:
        script = "set -e\n" + "\n".join(documented_install()) + "\n"
        run(["bash", "-c", script], BUILD_TIMEOUT_S, env=env, cwd=checkout)
        assert tree_state(checkout) == before, "the install wrote into the checkout"
    finally:
        make_writable(checkout)
    venv = home / "lk"
    python = str(venv / "bin" / "python")
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                    RUN_TIMEOUT_S, env=env).strip())
    installed = sorted(p.name for p in (site / "lobbykit").iterdir())
    assert "py.typed" in installed and "_lobbykit.pyi" in installed, installed
    assert any(re.fullmatch(r"liblobbykit\.so\.\d+", n) for n in installed), installed
    check_host_and_origin(python, env, tmp_path, site / "lobbykit")


def build_dir_of_this_package():
    """The CMake build the imported package comes from (<build>/python/lobbykit), if any."""
    build = Path(lobbykit.__file__).resolve().parents[2]
    return build if (build / "CMakeCache.txt").is_file() else None


@pytest.mark.timeout(600)
def test_cmake_install(tmp_path):
    build = build_dir_of_this_package()
    if build is None:
        pytest.skip("the package under test is not from a CMake build tree")
    cache = (build / "CMakeCache.txt").read_text()
    python_dir = re.search(r"^LOBBYKIT_PYTHON_INSTALL_DIR:\w+=(.*)$", cache, re.M).group(1)
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", str(build), "--prefix", str(prefix)], 600, env=clean_env())
    site = Path(python_dir) if os.path.isabs(python_dir) else prefix / python_dir
    assert (site / "lobbykit" / "__init__.py").is_file(), f"nothing installed in {site}"
    env = clean_env()
    env["PYTHONPATH"] = str(site)
    check_host_and_origin(sys.executable, env, tmp_path, prefix)
