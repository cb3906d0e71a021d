#!/bin/sh
# apt-install.sh PACKAGE...: the one way both image stages install Debian
# packages, so that a mirror and apt's quirks are handled in one place.
#   - DEBIAN_MIRROR (build arg), when set, replaces deb.debian.org in the
#     image's sources (both the one-line and the deb822 format), for sites
#     that reach Debian only through their own mirror;
#   - Check-Valid-Until is off because snapshot mirrors serve Release files
#     whose validity has lapsed; signatures are still checked;
#   - no recommends, and the package lists are removed afterwards, so the
#     layer holds only what was asked for.
set -eu
if [ -n "${DEBIAN_MIRROR:-}" ]; then
  for sources in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
    [ -f "$sources" ] || continue
    # Only the main archive: debian-security keeps its own host.
    sed -i "s#http://deb\.debian\.org/debian\([[:space:]/]\|\$\)#${DEBIAN_MIRROR}\1#g" \
      "$sources"
  done
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o Acquire::Check-Valid-Until=false update -qq
apt-get install -y -qq --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/*
