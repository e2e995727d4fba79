#!/usr/bin/env bash
# Make a Docker engine and a Python 3.11 base image available on a Debian machine that has no
# Docker engine and cannot pull from a container registry (CI). Idempotent and cached:
#
#   1. engine: reuse a reachable one; else install docker.io (apt) and start dockerd in the
#      background (log: $CACHE/dockerd.log), waiting for its socket;
#   2. base image $BASE_TAG: reuse it if the engine has it; else import the root file system
#      tarball cached at $CACHE/$TARBALL; else build that tarball with debootstrap (Debian
#      bookworm minbase + python3 + python3-venv + ca-certificates, from the Debian archive this
#      machine's apt uses, or debootstrap's own default where its sources name none);
#   3. docker-registry (Debian package), for the container tests' push to a local registry;
#   4. dangling images (earlier builds) older than a day are pruned, so disk use stays bounded.
#
# Needs root for 1 (when there is no engine yet) and 2 (when the tarball is missing).
# Prints timings, and `BASE_IMAGE=<tag>` as its last line on success.
# Exit 0: engine and base image ready; 1: not possible here (the reason is printed).
# Environment: S3BUNDLER_CI_CACHE (default /var/cache/s3bundler-ci), S3BUNDLER_BASE_TAG
# (default s3bundler-base:bookworm-ca).
set -euo pipefail

CACHE=${S3BUNDLER_CI_CACHE:-/var/cache/s3bundler-ci}
BASE_TAG=${S3BUNDLER_BASE_TAG:-s3bundler-base:bookworm-ca}
SUITE=bookworm  # Debian 12: Python 3.11, the version the wheelhouse is built for
TARBALL=rootfs-$SUITE-python3-ca.tar
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'prepare_docker: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
timed() {  # timed LABEL CMD...: run CMD, report how long it took, return its status
  local label=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  say "$label took $((SECONDS - start))s"
  return "$rc"
}

engine_up() { docker info >/dev/null 2>&1; }

apt_updated=0
apt_install() {
  if ((!apt_updated)); then
    apt-get update -qq || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

start_engine() {
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    timed "installing docker.io" apt_install docker.io ca-certificates \
      || fail "apt-get install docker.io failed"
  fi
  if [[ -S /var/run/docker.sock ]] && ! engine_up && pgrep -x dockerd >/dev/null; then
    say "dockerd is running but does not answer yet; waiting for it"
  else
    mkdir -p "$CACHE"
    say "starting dockerd (log: $CACHE/dockerd.log)"
    setsid nohup dockerd >>"$CACHE/dockerd.log" 2>&1 </dev/null &
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    engine_up && return 0
    sleep 1
  done
  tail -n 20 "$CACHE/dockerd.log" >&2 || true
  fail "dockerd did not answer within 60s"
}

# The Debian archive this machine's apt uses (first non-security, non-updates source), so
# debootstrap goes where apt is known to reach; nothing when the sources name none.
debian_mirror() {
  local f uri=""
  shopt -s nullglob
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1 == "deb" {
                 i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                 if ($(i + 1) !~ /-/ && $i ~ /^https?:/) { print $i; exit } }' "$f")
    [[ -n $uri ]] && break
  done
  if [[ -z $uri ]]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      uri=$(awk 'BEGIN { RS = ""; FS = "\n" } {
                   uris = ""; suites = ""; types = ""
                   for (n = 1; n <= NF; n++) {
                     if ($n ~ /^URIs:/) uris = substr($n, 6)
                     if ($n ~ /^Suites:/) suites = substr($n, 8)
                     if ($n ~ /^Types:/) types = substr($n, 7)
                   }
                   split(suites, s, " "); split(uris, u, " ")
                   if (types ~ /deb( |$)/ && s[1] !~ /-/ && u[1] ~ /^https?:/) { print u[1]; exit }
                 }' "$f")
      [[ -n $uri ]] && break
    done
  fi
  shopt -u nullglob
  echo "$uri"
}

build_rootfs_tarball() {
  command -v debootstrap >/dev/null 2>&1 || timed "installing debootstrap" apt_install debootstrap \
    || fail "apt-get install debootstrap failed"
  local mirror dir
  mirror=$(debian_mirror)
  dir=$(mktemp -d /var/tmp/s3bundler-rootfs.XXXXXX)
  # No mirror argument when apt's sources name none: debootstrap then uses its own default.
  say "debootstrap $SUITE (minbase + python3 + python3-venv + ca-certificates) from" \
    "${mirror:-the default mirror of debootstrap}"
  local t0=$SECONDS
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      "$SUITE" "$dir" ${mirror:+"$mirror"} >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE/debootstrap.log" >&2
    rm -rf "$dir"
    fail "debootstrap failed (log: $CACHE/debootstrap.log)"
  fi
  say "debootstrap took $((SECONDS - t0))s"
  # What an image does not need: downloaded .debs, package lists, docs, man pages, locales.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/tmp/*
  chroot "$dir" python3 --version >/dev/null || fail "the debootstrapped root has no working python3"
  tar --numeric-owner -C "$dir" -cf "$CACHE/$TARBALL.tmp" .
  mv "$CACHE/$TARBALL.tmp" "$CACHE/$TARBALL"
  rm -rf "$dir"
  say "cached $CACHE/$TARBALL ($(du -h "$CACHE/$TARBALL" | cut -f1))"
}

import_base() {
  docker import \
    --change "ENV PATH=$DEFAULT_PATH" --change "ENV LANG=C.UTF-8" --change 'CMD ["python3"]' \
    --message "Debian $SUITE minbase + python3 (tools/prepare_docker.sh)" \
    "$CACHE/$TARBALL" "$BASE_TAG" >/dev/null
}

main() {
  local start=$SECONDS
  if engine_up; then
    say "Docker engine reachable"
  else
    ((EUID == 0)) || fail "no Docker engine reachable, and not root: cannot install or start one"
    start_engine
  fi
  if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    say "base image $BASE_TAG present"
  else
    mkdir -p "$CACHE"
    if [[ ! -s $CACHE/$TARBALL ]]; then
      ((EUID == 0)) || fail "base image $BASE_TAG missing, and not root: cannot debootstrap it"
      build_rootfs_tarball
    fi
    timed "docker import $BASE_TAG" import_base
    docker run --rm --network none "$BASE_TAG" python3 -c 'import sys, venv; print(sys.version)' \
      >/dev/null || fail "base image $BASE_TAG: python3 does not run"
  fi
  # A local registry for the push test (tests/containers); optional.
  if ! command -v docker-registry >/dev/null 2>&1 && ((EUID == 0)); then
    timed "installing docker-registry" apt_install docker-registry \
      || say "warning: docker-registry not installed: the push test will be skipped"
  fi
  # Layers of earlier trees' builds: keep a day's worth as build cache, drop the rest.
  docker image prune --force --filter until=24h >/dev/null || true
  say "ready in $((SECONDS - start))s"
  echo "BASE_IMAGE=$BASE_TAG"
}

main "$@"
