"""Build the example's four extension modules for one interpreter.

    python build.py --python /path/to/python3.X --out DIR

DIR/unguarded and DIR/guarded each get ``matmul_ext`` (the C API module) and
``matmul_pb`` (pybind11); put one of them on PYTHONPATH to run ``run.py``.
The guarded builds need nothing but ``-I$(finirace guard --include)``; pybind11's
headers come from the pybind11 package of the Python running this script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
    built = {}
    for (kind, module), source in SOURCES.items():
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{module}{cfg['suffix']}"
        argv = ["g++", "-O2", "-g", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden",
                f"-I{cfg['include']}", str(HERE / source), "-o", str(target)]
        if module == "matmul_pb":
            argv.insert(-3, f"-I{pybind11.get_include()}")
        if kind == "guarded":
            argv.insert(-3, f"-I{include_dir()}")
        subprocess.run(argv, check=True)
        built[kind, module] = target
    return built


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
