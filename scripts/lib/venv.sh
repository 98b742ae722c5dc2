# shellcheck shell=bash
# Shared by scripts/demo and scripts/test (sourced, not run): the system packages a
# source build of edgeseal needs, a Python new enough for it, and a venv inside the
# checkout with edgeseal installed in it.
#
# Debian 12 and Ubuntu 24.04 refuse pip installs into the system Python (PEP 668,
# "externally-managed-environment"), so nothing is installed there: everything goes
# into a venv. As root with apt-get, missing system packages are installed; otherwise
# the scripts print the command that installs them and stop.
#
# The caller sets ES_NAME (its name, for messages) and uses:
#   es_python_checks         the Python: present, >= 3.10, can make venvs, has headers
#   es_need PACKAGE...       note missing Debian packages (checks of the caller's own)
#   es_install_needed        install what was noted, or explain and exit 1
#   es_venv DIR              create DIR as a venv, or reuse it; sets ES_VENV_PYTHON
#   es_install MODE SPEC     pip install the checkout (MODE: wheel or editable) unless
#                            the venv already has these sources installed

ES_MIN_PYTHON=(3 10) # requires-python in pyproject.toml
ES_NEEDED=()

es_say() { echo "${ES_NAME:-edgeseal}: $*" >&2; }

# An executable on PATH or in /usr/sbin (where Debian puts daemons such as mosquitto).
es_have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

es_need() { ES_NEEDED+=("$@"); }

# The interpreter the venvs are made from: $PYTHON if set, else python3.
ES_PYTHON=${PYTHON:-python3}

es_is_system_python() {
    # Debian's packages (python3-venv, python3-dev) can only fix Debian's own Python.
    "$ES_PYTHON" -c 'import sys; sys.exit(sys.base_prefix != "/usr")' 2>/dev/null
}

es_python_checks() {
    if ! command -v "$ES_PYTHON" >/dev/null 2>&1; then
        if [ -n "${PYTHON:-}" ]; then
            es_say "PYTHON=$PYTHON: no such interpreter"
            exit 1
        fi
        es_need python3 python3-venv python3-dev
        return
    fi
    local version
    version=$("$ES_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if ! "$ES_PYTHON" -c "import sys; sys.exit(sys.version_info < (${ES_MIN_PYTHON[0]}, ${ES_MIN_PYTHON[1]}))"; then
        es_say "edgeseal needs Python >= ${ES_MIN_PYTHON[0]}.${ES_MIN_PYTHON[1]}, and" \
            "$(command -v "$ES_PYTHON") is Python $version."
        es_say "Supported systems: Debian 12 (Python 3.11) and Ubuntu 24.04 (Python 3.12)." \
            "Elsewhere install a newer Python and run again with PYTHON=/path/to/python3.X $0"
        exit 1
    fi
    local packages=() lacks=()
    # Debian ships ensurepip (which venv needs for pip) in python3-venv.
    if ! "$ES_PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        packages+=(python3-venv)
        lacks+=("the venv and ensurepip modules")
    fi
    # The C core is compiled against Python's headers.
    if ! "$ES_PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        packages+=(python3-dev)
        lacks+=("its C headers (Python.h)")
    fi
    if [ ${#packages[@]} -eq 0 ]; then
        return
    fi
    if es_is_system_python; then
        es_need "${packages[@]}"
    else
        es_say "$(command -v "$ES_PYTHON") (Python $version, not the system's) lacks" \
            "${lacks[0]}${lacks[1]:+ and ${lacks[1]}}"
        es_say "use an interpreter that has them, e.g. PYTHON=/usr/bin/python3 $0"
        exit 1
    fi
}

# A C compiler with the C library's headers, for the cffi modules.
es_compiler_checks() {
    es_have gcc || es_need gcc
    [ -e /usr/include/stdio.h ] || es_need libc6-dev
}

es_install_needed() {
    [ ${#ES_NEEDED[@]} -gt 0 ] || return 0
    local -A seen=()
    local name wanted=()
    for name in "${ES_NEEDED[@]}"; do
        [ -z "${seen[$name]:-}" ] || continue
        seen[$name]=1
        wanted+=("$name")
    done
    if ! command -v apt-get >/dev/null 2>&1; then
        es_say "missing (Debian package names): ${wanted[*]}"
        es_say "this script installs them with apt-get on Debian 12 and Ubuntu 24.04;" \
            "here, install their equivalents and run again"
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        es_say "missing system packages: ${wanted[*]}"
        es_say "install them and run again:"
        echo "    sudo apt-get install -y --no-install-recommends ${wanted[*]}" >&2
        exit 1
    fi
    es_say "installing system packages: ${wanted[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
}

es_venv() {
    local dir=$1
    # Absolute: es_install runs it from another directory too.
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    ES_VENV_PYTHON=$dir/bin/python
    if [ -e "$dir" ] && ! "$ES_VENV_PYTHON" -c '' >/dev/null 2>&1; then
        if [ ! -f "$dir/pyvenv.cfg" ]; then
            es_say "$dir exists and is not a venv; move it away and run again"
            exit 1
        fi
        # Made by an interpreter that is gone (an upgraded or removed Python).
        es_say "$dir is not a working venv any more; making it anew"
        "$ES_PYTHON" -m venv --clear "$dir"
    elif [ ! -e "$dir" ]; then
        es_say "making a venv in $dir"
        "$ES_PYTHON" -m venv "$dir"
    fi
    if ! "$ES_VENV_PYTHON" -m pip --version >/dev/null 2>&1; then
        # A venv made without pip (e.g. by uv): give it one.
        "$ES_VENV_PYTHON" -m ensurepip --upgrade >/dev/null
    fi
}

es_install() {
    local mode=$1 spec=$2 stamp_file stamp
    stamp_file=$(dirname "$(dirname "$ES_VENV_PYTHON")")/.edgeseal-installed
    stamp="$mode $spec $("$ES_VENV_PYTHON" scripts/lib/source_stamp.py "$mode")"
    # The stamp says which sources are installed; the import (from /, so that only
    # the installed package can answer) that the compiled modules are really there.
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
        (cd / && "$ES_VENV_PYTHON" -c 'import edgeseal.native, edgeseal.firmware_bridge._fbcore' \
            >/dev/null 2>&1); then
        return
    fi
    rm -f "$stamp_file"
    local venv
    venv=$(dirname "$(dirname "$ES_VENV_PYTHON")")
    if [ "$mode" = editable ]; then
        es_say "installing edgeseal (editable, '$spec') into $venv (compiles the C core)"
        "$ES_VENV_PYTHON" -m pip install -q --disable-pip-version-check -e "$spec"
    else
        # pip always reinstalls from a directory, so changed sources are picked up.
        es_say "installing edgeseal ('$spec') into $venv (compiles the C core)"
        "$ES_VENV_PYTHON" -m pip install -q --disable-pip-version-check "$spec"
    fi
    echo "$stamp" >"$stamp_file"
}
