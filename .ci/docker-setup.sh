#!/usr/bin/env bash
# Makes a Docker engine available for the docker tests: installs Debian's docker.io when
# `docker info` fails, starts dockerd in the background and waits until it answers.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "docker-setup: engine already running"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-setup: installing docker.io"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker-setup: starting dockerd"
  LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
  # nohup + setsid: the daemon outlives this script and the CI step that ran it
  $SUDO setsid nohup dockerd >"$LOG" 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker-setup: engine ready ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker-setup: dockerd did not come up; last log lines:" >&2
tail -20 "${DOCKERD_LOG:-/tmp/dockerd.log}" >&2 || true
exit 1
