"""Builds the _lobbykit extension with CMake on the repository root (../..), then puts it and
the liblobbykit.so it links (found through an $ORIGIN RPATH) into the package, so the
installed package needs nothing else. The version is the CMake project's.

CMake builds only the extension and the library (no tests, no examples). Nothing is written
into the checkout (it may be read-only): setuptools and CMake build in
$LOBBYKIT_PYTHON_BUILD_DIR when it is set (kept, so later installs rebuild only what
changed), else in a temporary directory removed when the build ends.
CMAKE_BUILD_PARALLEL_LEVEL sets the jobs."""

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def project_version() -> str:
    text = (ROOT / "CMakeLists.txt").read_text()
    found = re.search(r"project\(\s*lobbykit\s+VERSION\s+([0-9][0-9.]*)", text)
    if not found:
        raise RuntimeError(f"no project(lobbykit VERSION ...) in {ROOT / 'CMakeLists.txt'}")
    return found.group(1)


def build_base() -> str:
    """Where setuptools (build/, the egg-info) and CMake work: never the checkout."""
    kept = os.environ.get("LOBBYKIT_PYTHON_BUILD_DIR")
    if kept:
        os.makedirs(kept, exist_ok=True)
        return os.path.abspath(kept)
    temporary = tempfile.mkdtemp(prefix="lobbykit-python-build-")
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    return temporary


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        temp = Path(self.build_temp).resolve()
        build_dir, stage = temp / "cmake", temp / "stage"
        self.spawn(["cmake", "-S", str(ROOT), "-B", str(build_dir),
                    "-DCMAKE_BUILD_TYPE=Release",
                    "-DLOBBYKIT_BUILD_TESTS=OFF", "-DLOBBYKIT_BUILD_EXAMPLES=OFF",
                    "-DLOBBYKIT_BUILD_PYTHON=ON",
                    "-DLOBBYKIT_PYTHON_BUNDLE_LIB=ON",
                    # STRING: a PATH-typed "." would become the current directory
                    "-DLOBBYKIT_PYTHON_INSTALL_DIR:STRING=.",
                    f"-DPython_EXECUTABLE={sys.executable}"])
        build = ["cmake", "--build", str(build_dir), "--target", "lobbykit_python"]
        if "CMAKE_BUILD_PARALLEL_LEVEL" not in os.environ:
            build.append(f"-j{os.cpu_count() or 1}")
        self.spawn(build)
        shutil.rmtree(stage, ignore_errors=True)
        self.spawn(["cmake", "--install", str(build_dir), "--component", "python",
                    "--prefix", str(stage)])

        staged = stage / "lobbykit"
        package_dir.mkdir(parents=True, exist_ok=True)
        for extension in staged.glob("_lobbykit*.so"):
            shutil.copyfile(extension, package_dir / extension.name)
        # The extension needs the library by its soname (a symlink in the stage): ship that
        # name as a plain file, once.
        libraries = sorted(staged.glob("liblobbykit.so*"))
        sonames = [p for p in libraries if p.is_symlink()] or libraries
        if not sonames:
            raise RuntimeError(f"cmake --install put no liblobbykit into {staged}")
        for library in sonames:
            shutil.copyfile(library, package_dir / library.name)


BUILD_BASE = build_base()

setup(
    version=project_version(),
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
    ext_modules=[Extension("lobbykit._lobbykit", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
)
