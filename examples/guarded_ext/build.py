"""Build the example's four extension modules for one interpreter.

    python build.py --python /path/to/python3.X --out DIR

DIR/unguarded and DIR/guarded each get ``matmul_ext`` (the C API module) and
``matmul_pb`` (pybind11); put one of them on PYTHONPATH to run ``run.py``.
The guarded builds need nothing but ``-I$(finirace guard --include)``; pybind11's
headers come from the pybind11 package of the Python running this script.  The
four compilers run side by side, one per CPU: the pybind11 modules take most of
the time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = {
    ("unguarded", "matmul_ext"): "matmul.cpp",
    ("guarded", "matmul_ext"): "matmul_guarded.cpp",
    ("unguarded", "matmul_pb"): "matmul_pybind.cpp",
    ("guarded", "matmul_pb"): "matmul_pybind_guarded.cpp",
}


def target_config(python: str) -> dict:
    """The target interpreter's header directory and extension suffix."""
    code = ("import json, sysconfig; print(json.dumps({'include': sysconfig.get_paths()['include'], "
            "'suffix': sysconfig.get_config_var('EXT_SUFFIX')}))")
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


def build(python: str, out: Path) -> dict[tuple[str, str], Path]:
    import pybind11

    from finirace.guard.header import include_dir

    cfg = target_config(python)
    pybind_include, guard_include = pybind11.get_include(), include_dir()

    def compile_one(item: tuple[tuple[str, str], str]) -> tuple[tuple[str, str], Path]:
        (kind, module), source = item
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{module}{cfg['suffix']}"
        argv = ["g++", "-O2", "-g", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden",
                f"-I{cfg['include']}", str(HERE / source), "-o", str(target)]
        if module == "matmul_pb":
            argv.insert(-3, f"-I{pybind_include}")
        if kind == "guarded":
            argv.insert(-3, f"-I{guard_include}")
        subprocess.run(argv, check=True)
        return (kind, module), target

    # the slow pybind11 modules first, so two CPUs finish together
    order = sorted(SOURCES.items(), key=lambda item: item[0][1] != "matmul_pb")
    with ThreadPoolExecutor(max_workers=min(len(order), os.cpu_count() or 1)) as pool:
        return dict(pool.map(compile_one, order))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="the interpreter to build for")
    ap.add_argument("--out", required=True, type=Path, help="where unguarded/ and guarded/ go")
    args = ap.parse_args()
    for (kind, module), path in build(args.python, args.out).items():
        print(f"{kind:9} {module:10} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
