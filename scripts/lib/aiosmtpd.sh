# shellcheck shell=bash
# The local mail sink the e-mail tests send to: aiosmtpd (from PyPI, in a virtualenv cached under
# $BOXOFFICE_CACHE, default /var/cache/boxoffice as root, else ~/.cache/boxoffice). The tests start
# it themselves (crates/testkit/src/smtp.rs) with the virtualenv's python, which they find through
# $BOXOFFICE_AIOSMTPD_PYTHON or, failing that, under the same cache directory. Source this file,
# then call `ensure_aiosmtpd`: it installs once and exports BOXOFFICE_AIOSMTPD_PYTHON.

AIOSMTPD_VERSION="${AIOSMTPD_VERSION:-1.4.6}"

ensure_aiosmtpd() {
  local default_cache="$HOME/.cache/boxoffice"
  [ "$(id -u)" -eq 0 ] && default_cache=/var/cache/boxoffice
  local venv="${BOXOFFICE_CACHE:-$default_cache}/aiosmtpd-$AIOSMTPD_VERSION"
  if ! "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "installing aiosmtpd $AIOSMTPD_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install --quiet "aiosmtpd==$AIOSMTPD_VERSION" || { rm -rf "$venv"; return 1; }
  fi
  export BOXOFFICE_AIOSMTPD_PYTHON="$venv/bin/python"
  echo "mail sink: aiosmtpd $("$BOXOFFICE_AIOSMTPD_PYTHON" -c 'import aiosmtpd; print(aiosmtpd.__version__)') ($BOXOFFICE_AIOSMTPD_PYTHON)"
}
