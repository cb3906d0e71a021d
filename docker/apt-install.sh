#!/bin/sh
# apt-install.sh PACKAGE...: the one way both image stages install Debian
# packages, so that apt's quirks are handled in one place. The mirror is
# whatever the base image's sources name (made by docker/podman-engine.sh,
# that is the host's own mirror).
#   - Check-Valid-Until is off because snapshot mirrors serve Release files
#     whose validity has lapsed; signatures are still checked;
#   - no recommends, and the package lists are removed afterwards, so the
#     layer holds only what was asked for.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -o Acquire::Check-Valid-Until=false update -qq
apt-get install -y -qq --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/*
