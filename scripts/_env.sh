# Shared by scripts/serve.sh and scripts/test.sh: a .venv with the package installed.
# Works on a fresh Debian 12 with Python 3.11: installs python3-venv with apt when venv is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-python3}
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi

apt_install() {
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; "$PY" -m venv .venv; }
  .venv/bin/python -m pip install -q --upgrade pip
fi

# Leaflet.draw 1.0.4 (MIT) is served from django-leaflet's static folder; Django is not needed,
# so that one package is installed without its dependencies (pyproject cannot say --no-deps).
LEAFLET_DRAW=django-leaflet==0.34.0
