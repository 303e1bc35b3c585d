"""Build rnnkit's fused CPU kernels ahead of time, against the installed torch.

    python3 -m rnnkit.fused.build [--force] [--quiet]

Compiles ``csrc/ops.cpp`` (the custom ops, against torch's headers) and ``csrc/pointwise.cpp``
(the gate maths, with ``-O3 -ffast-math`` so that the loops vectorise, plus an AVX2 copy
chosen at load time; no ``-march=native``, so the library runs on any x86-64) in parallel
with the system C++ compiler (``$CXX``, else ``g++``/``c++``), links them into
``_build/librnnkit_fused.so`` inside this package and records what it was built against in
``_build/build.json``. Nothing is downloaded and pip is not involved, so the pinned torch
stays as it is. A library already built from the same sources for the same torch is kept
(``--force`` rebuilds). Writes go to temporary names and are renamed, so a failed build
leaves the previous library intact.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR / "csrc"
BUILD_DIR = PACKAGE_DIR / "_build"
LIBRARY = BUILD_DIR / "librnnkit_fused.so"
BUILD_INFO = BUILD_DIR / "build.json"
SOURCES = ("ops.cpp", "pointwise.cpp", "pointwise.h")


class BuildError(RuntimeError):
    """The fused kernels could not be built; the message says why and what to do."""


def source_digest() -> str:
    """sha256 of the kernel sources: a library built from other sources is stale."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode())
        digest.update((SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()


def find_compiler() -> str:
    """The C++ compiler to use: ``$CXX``, else ``g++``, else ``c++``."""
    for candidate in (os.environ.get("CXX"), "g++", "c++"):
        if candidate and shutil.which(candidate):
            return candidate
    raise BuildError(
        "no C++ compiler found ($CXX, g++ or c++): install one (Debian: apt-get install g++) "
        "and run `python3 -m rnnkit.fused.build`; until then the layers run on 'bptt'"
    )


def compiler_version(compiler: str) -> str:
    """The first line of ``compiler --version``."""
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout.splitlines() or ["unknown"])[0].strip()


def read_build_info() -> dict | None:
    """``build.json`` of the built library, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(BUILD_INFO.read_text())
    except (OSError, ValueError):
        return None


def is_current(info: dict | None, torch_version: str) -> bool:
    """Whether the library on disk was built from these sources for this torch."""
    return (
        info is not None
        and LIBRARY.exists()
        and info.get("torch") == torch_version
        and info.get("sources") == source_digest()
    )


def _commands(compiler: str, workdir: Path) -> tuple[list[list[str]], list[str], Path]:
    """The two compile commands, the link command and the linked file's path in ``workdir``."""
    import torch
    from torch.utils import cpp_extension

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    includes = [arg for path in cpp_extension.include_paths() for arg in ("-isystem", path)]
    lib_dirs = cpp_extension.library_paths()
    ops_o, pointwise_o = workdir / "ops.o", workdir / "pointwise.o"
    ops = [
        compiler, "-O2", "-fPIC", "-std=c++20", "-fopenmp", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        *includes, "-c", str(SOURCE_DIR / "ops.cpp"), "-o", str(ops_o),
    ]  # fmt: skip
    pointwise = [
        compiler, "-O3", "-ffast-math", "-fPIC", "-std=c++17",
        "-c", str(SOURCE_DIR / "pointwise.cpp"), "-o", str(pointwise_o),
    ]  # fmt: skip
    linked = workdir / LIBRARY.name
    link = [compiler, "-shared", "-fopenmp", str(ops_o), str(pointwise_o), "-o", str(linked)]
    for path in lib_dirs:
        link += [f"-L{path}", f"-Wl,-rpath,{path}"]
    link += ["-lc10", "-ltorch_cpu", "-ltorch", "-lmvec", "-lm"]
    return [ops, pointwise], link, linked


def _run_all(commands: list[list[str]]) -> None:
    """Run the compile commands in parallel; raise BuildError with the first failure's output."""
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd in commands
    ]
    failures = []
    for cmd, proc in zip(commands, procs, strict=True):
        output, _ = proc.communicate()
        if proc.returncode != 0:
            failures.append(f"$ {' '.join(cmd)}\n{output[-4000:]}")
    if failures:
        raise BuildError("building the fused kernels failed:\n" + "\n".join(failures))


def build(force: bool = False, quiet: bool = False) -> Path:
    """Build the library if it is missing or stale; return its path.

    Raises:
        BuildError: no compiler, or a compile or link step failed (its output included).
    """
    import torch

    if not force and is_current(read_build_info(), torch.__version__):
        if not quiet:
            print(f"rnnkit fused kernels: up to date ({LIBRARY})")
        return LIBRARY
    compiler = find_compiler()
    BUILD_DIR.mkdir(exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix="tmp-") as tmp:
        compiles, link, linked = _commands(compiler, Path(tmp))
        if not quiet:
            print(f"rnnkit fused kernels: compiling with {compiler} ...", flush=True)
        _run_all(compiles)
        _run_all([link])
        os.replace(linked, LIBRARY)  # atomic: a failed build never leaves half a library
    seconds = round(time.monotonic() - start, 1)
    info = {
        "torch": torch.__version__,
        "sources": source_digest(),
        "compiler": compiler_version(compiler),
        "build_seconds": seconds,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp_info = BUILD_INFO.with_suffix(".json.tmp")
    tmp_info.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp_info, BUILD_INFO)
    if not quiet:
        print(f"rnnkit fused kernels: built {LIBRARY} in {seconds} s")
    return LIBRARY


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (1 when the build fails)."""
    parser = argparse.ArgumentParser(prog="python3 -m rnnkit.fused.build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        build(force=args.force, quiet=args.quiet)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
