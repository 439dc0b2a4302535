#!/bin/sh
# setup-debian.sh - install every Debian 12 package st2v needs to build,
# test and train. Run as root (or with sudo). Safe to run again.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

PACKAGES="build-essential pkg-config ccache
libopenblas-dev libcjson-dev libpng-dev
python3-torch python3-numpy
valgrind"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES
echo "setup-debian.sh: all packages installed"
