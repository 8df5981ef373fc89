# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash

# The workspace root, whatever folder the script was started from.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_packages PKG...: installs the Debian packages that are missing, through apt when we are
# root, else prints the exact command and stops.
need_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing system packages: ${missing[*]} (install them with your package manager)"
    if [ "$(id -u)" -ne 0 ]; then
        die "missing system packages; install them with:
    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    fi
    say "installing ${missing[*]}"
    # An apt list older than a day may name package versions the mirror no longer has.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_python_module MODULE PIP_NAME: installs a Python package from PyPI if it is missing.
need_python_module() {
    python3 -c "import $1" 2>/dev/null && return 0
    say "installing the Python package $2"
    python3 -m pip install --quiet --user "$2" 2>/dev/null || python3 -m pip install --quiet "$2" \
        || die "cannot install the Python package $2; run: python3 -m pip install --user $2"
}

need_rust() {
    command -v cargo >/dev/null || die "Rust is not installed; see https://rustup.rs (the stable toolchain is enough)"
}
