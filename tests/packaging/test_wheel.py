"""The wheel works on its own: build it, install it into a fresh venv, smoke-test it there.

The venv gets only the wheel in its own site-packages; a ``.pth`` file then appends
the site-packages of the environment running the tests, so that cffi, cryptography
and friends (and what cibuildwheel's ``test-requires`` names) need not be downloaded
again, whether that environment is scripts/test's venv or a system interpreter. That
is only sound because the smoke script proves that ``native`` and the other packages
are imported from the *venv's* site-packages (``native.__file__``), and it runs from
a temporary directory so the checkout is not on ``sys.path``. The test environment's
own ``.pth`` files (its editable install of the checkout among them) are not
processed from a directory added that way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).resolve().parent / "wheel_smoke.py"

# What the build needs from the checkout; everything else (build/, .git, compiled
# objects from in-place development builds) stays behind so the wheel is built from
# sources only.
_IGNORE = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.so",
    "*.o",
    ".pytest_cache",
    ".hypothesis",
    "results",
    "tests",
)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} failed with rc={proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel .`` on a copy of the checkout's sources."""
    work = tmp_path_factory.mktemp("wheelbuild")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_IGNORE)
    out = work / "dist"
    # No build isolation: the build requirements (setuptools, wheel, cffi) are the
    # test environment's own, so the test needs no package index.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        cwd=work,
        env=_clean_env(),
    )
    wheels = sorted(out.glob("edgeseal-*.whl"))
    assert len(wheels) == 1, f"expected one edgeseal wheel in {out}, found {wheels}"
    return wheels[0]


def test_sdist_holds_every_build_input(tmp_path: Path) -> None:
    """A wheel built from the sdist (pip on a platform without a wheel) needs all of these."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=_IGNORE)
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(src),
        ],
        cwd=tmp_path,
        env=_clean_env(),
    )
    [sdist] = (tmp_path / "dist").glob("edgeseal-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    needed = {"pyproject.toml", "setup.py", "native/build_ffi.py", "firmware_bridge/build_ffi.py"}
    for pattern in (
        "native/src/*.c",
        "native/src/*.h",
        "native/include/*.h",
        "firmware_bridge/c/*.c",
        "firmware_bridge/c/*.h",
    ):
        needed |= {str(p.relative_to(src)) for p in src.glob(pattern)}
    missing = sorted(needed - names)
    assert not missing, f"the sdist lacks build inputs (MANIFEST.in?): {missing}"


def test_wheel_is_abi3_and_complete(wheel: Path) -> None:
    # One wheel per platform serves every CPython >= 3.10 (stable ABI).
    assert "-cp310-abi3-" in wheel.name, wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("native/_hashing", "native/_ed25519", "firmware_bridge/_fbcore"):
        so = f"edgeseal/{module}.abi3.so"
        assert so in names, f"{so} missing from {wheel.name}"
    for package in (
        "native",
        "firmware_bridge",
        "wire",
        "agent",
        "verifier",
        "plumbing",
        "testing",
    ):
        init = f"edgeseal/{package}/__init__.py"
        assert init in names, f"package edgeseal.{package} missing from the wheel"
    # The console's pages and OpenAPI document ship with the verifier (package data).
    for data in (
        "openapi.json",
        "console/index.html",
        "console/receipt.html",
        "console/dashboard.js",
    ):
        assert f"edgeseal/verifier/{data}" in names, f"{data} missing from {wheel.name}"
    # One installed namespace: nothing but edgeseal/ and its dist-info at the top.
    tops = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"edgeseal"}, sorted(tops)
    [info] = dist_info
    top_level = zipfile.ZipFile(wheel).read(f"{info}/top_level.txt").decode().split()
    assert top_level == ["edgeseal"], top_level
    record = zipfile.ZipFile(wheel).read(f"{info}/RECORD").decode().splitlines()
    assert {r.split("/", 1)[0].split(",", 1)[0] for r in record} - dist_info == {"edgeseal"}
    # No test code or build leftovers ship to gateways.
    assert not any(n.startswith("tests/") or n.endswith(".o") for n in names)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, the test environment's packages behind it."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent)
    python = str(venv / "bin" / "python")
    # The wheel goes in before the test environment is visible, so pip sees no other
    # edgeseal and the venv's site-packages holds the wheel's copy.
    _run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        cwd=venv.parent,
        env=_clean_env(),
    )
    site = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=venv.parent,
        env=_clean_env(),
    ).strip()
    test_env_sites = [
        p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")
    ]
    (Path(site) / "zz_test_environment.pth").write_text(
        "".join(f"{p}\n" for p in test_env_sites), encoding="utf-8"
    )
    return venv


def _venv_env(venv: Path) -> dict[str, str]:
    env = _clean_env()
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def test_smoke_in_fresh_venv(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    script = cwd / "wheel_smoke.py"
    shutil.copy(SMOKE, script)
    out = _run([str(python), str(script), "--prefix", str(venv)], cwd=cwd, env=_clean_env())
    assert "all " in out and "smoke checks passed" in out, out
    # The proof the module docstring relies on, checked here too rather than trusted.
    where = _run(
        [
            str(python),
            "-c",
            "import sys; from edgeseal import native; print(native.__file__); print(sys.prefix)",
        ],
        cwd=cwd,
        env=_clean_env(),
    ).split()
    assert Path(where[0]).resolve().is_relative_to(venv.resolve()), where
    assert not Path(where[0]).resolve().is_relative_to(ROOT), where


def test_installed_demo_started_inside_an_unbuilt_checkout(venv: Path, tmp_path: Path) -> None:
    """`edgeseal demo` run from a source tree that was never built (issue 10, item 1).

    Its children are ``python -m edgeseal``, which puts the working directory first on
    sys.path: started from here they would import this tree (no compiled modules,
    ``No module named 'edgeseal.native._hashing'``) instead of the installed wheel. The demo's
    directory is given relative to the tree, as a user in a checkout would type it.
    """
    tree = tmp_path / "edgeseal"
    shutil.copytree(ROOT, tree, ignore=_IGNORE)
    assert (tree / "native" / "__init__.py").is_file() and not list(tree.rglob("*.so"))
    proc = subprocess.run(
        [str(venv / "bin" / "edgeseal"), "demo", "--seconds", "2", "--workdir", "demo-run"],
        cwd=tree,
        env=_venv_env(venv),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "result: OK" in proc.stdout, proc.stdout
    assert (tree / "demo-run" / "receipt.json").is_file()


def test_cibuildwheel_test_command_passes_on_the_wheel(
    venv: Path, tmp_path: Path, third_party_vectors: Path
) -> None:
    """What cibuildwheel runs on every wheel, run here the way it does (x86_64 only).

    test-sources are copied to a temporary test directory (nothing else is beside
    it), {project} is an empty project directory, and each test-command line runs
    with ``sh -c`` and the venv first on PATH.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]
    # cibuildwheel installs test-requires into the test venv: here pip finds them in the
    # test environment (the test extra) and downloads only what that lacks.
    requires = config["test-requires"]
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *requires],
        cwd=tmp_path,
        env=_clean_env(),
    )
    project = tmp_path / "project"
    project.mkdir()
    testing = tmp_path / "cibw"
    test_cwd = testing / "test_cwd"
    test_cwd.mkdir(parents=True)
    for source in config["test-sources"]:
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(
                src, test_cwd / source, ignore=shutil.ignore_patterns("__pycache__", "*.o", "*.so")
            )
        else:
            (test_cwd / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, test_cwd / source)
    commands = config["test-command"]
    commands = commands if isinstance(commands, list) else [commands]
    for command in commands:
        prepared = command.replace("{project}", str(project)).replace("{package}", str(project))
        if "-m pytest" in command:
            # The C programs (sanitizer and -Werror builds) compile the same sources the
            # main suite compiles and never import the wheel: left out here for time.
            # What this run adds is every Python test against the installed wheel. This
            # -k replaces the command's own, so it repeats its exclusions (c_format: the
            # copy has no .git and no C tree to format-check).
            prepared += (
                " -k 'not sanitizers and not asan and not release_flags and not fuzz_target"
                " and not c_format'"
            )
        proc = subprocess.run(
            ["sh", "-c", prepared],
            cwd=test_cwd,
            env=_venv_env(venv),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, (
            f"cibuildwheel test-command {command!r} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        )
    # The vectors travel with the tests; nothing was put beside the test directory.
    copied = test_cwd / "tests" / "vectors"
    assert sorted(p.name for p in copied.iterdir()) == sorted(
        p.name for p in third_party_vectors.iterdir()
    ), "test-sources did not bring tests/vectors along"
    assert sorted(p.name for p in testing.iterdir()) == ["test_cwd"], list(testing.iterdir())
    # From the test directory (cwd first on sys.path, as under `python -m pytest`) the
    # copied native/src must not shadow the installed package.
    where = _run(
        ["python", "-c", "from edgeseal import native; print(native.__file__)"],
        cwd=test_cwd,
        env=_venv_env(venv),
    ).strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where


def test_smoke_script_detects_a_foreign_native(tmp_path: Path) -> None:
    """The location check can fail: run with the system interpreter and a venv prefix."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    script = cwd / "wheel_smoke.py"
    shutil.copy(SMOKE, script)
    proc = subprocess.run(
        [sys.executable, str(script), "--prefix", str(tmp_path / "not-this-env")],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout and "sys.prefix" in proc.stdout, proc.stdout
