#!/usr/bin/env bash
# Install Precheck on a Debian/Ubuntu shop PC or server, from a checkout of this repository:
#   sudo deploy/install.sh [--service] [--bridge] [--prefix /opt/precheck]
# Layout (docs/operations.md "Deployment"):
#   /opt/precheck            the code (a copy of this checkout, built to dist/, production dependencies only)
#   /etc/precheck/           bridge.json (mode 0640, root:precheck: it holds the bridge's API key)
#   /var/lib/precheck/server the service's keys and database   (precheck server init)
#   /var/lib/precheck/bridge the bridge's pins.json, outbox and sync cache
#   /var/log/precheck/       service.log, bridge.log, sync.log (logrotate: /etc/logrotate.d/precheck)
# Idempotent: a second run updates the code and units and keeps every key, pin and database.
set -euo pipefail
PREFIX=/opt/precheck
WANT_SERVICE=0
WANT_BRIDGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --service) WANT_SERVICE=1 ;;
    --bridge) WANT_BRIDGE=1 ;;
    --prefix) PREFIX="$2"; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ $WANT_SERVICE = 0 ] && [ $WANT_BRIDGE = 0 ] && WANT_SERVICE=1 && WANT_BRIDGE=1
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 2; }
SRC="$(cd "$(dirname "$0")/.." && pwd)"
command -v node >/dev/null || { echo "install.sh: Node.js >= 20.18 is needed (Node 24 LTS recommended)" >&2; exit 3; }

getent group precheck >/dev/null || groupadd --system precheck
id precheck >/dev/null 2>&1 || useradd --system --gid precheck --home-dir /var/lib/precheck --shell /usr/sbin/nologin precheck
usermod -aG dialout,plugdev precheck 2>/dev/null || true

install -d -m 0755 "$PREFIX"
# the code: everything but local state, then production dependencies
tar -C "$SRC" --exclude=./.precheck --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$PREFIX" -xf -
# npm ci builds dist/ (what runs) with the dev dependencies' compiler; the prune then drops them
(cd "$PREFIX" && npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund)
if [ "$PREFIX" != /opt/precheck ]; then
  sed -i "s#/opt/precheck#$PREFIX#g" "$PREFIX"/deploy/systemd/*.service
fi

install -d -m 0750 -o root -g precheck /etc/precheck
install -d -m 0750 -o precheck -g precheck /var/lib/precheck /var/log/precheck
install -m 0644 "$SRC/deploy/logrotate/precheck" /etc/logrotate.d/precheck

if [ $WANT_SERVICE = 1 ]; then
  install -d -m 0700 -o precheck -g precheck /var/lib/precheck/server
  # creates keys and database once; refuses nothing on a later run
  runuser -u precheck -- node "$PREFIX/bin/precheck.js" server init --data /var/lib/precheck/server
  install -m 0644 "$PREFIX/deploy/systemd/precheck-service.service" /etc/systemd/system/
fi

if [ $WANT_BRIDGE = 1 ]; then
  install -d -m 0700 -o precheck -g precheck /var/lib/precheck/bridge
  if [ ! -e /etc/precheck/bridge.json ]; then
    install -m 0640 -o root -g precheck "$SRC/deploy/bridge.example.json" /etc/precheck/bridge.json
    echo "install.sh: edit /etc/precheck/bridge.json (service URL, API key, devices)"
  fi
  install -m 0644 "$SRC/host-bridge/udev/99-precheck.rules" /etc/udev/rules.d/99-precheck.rules
  udevadm control --reload-rules 2>/dev/null && udevadm trigger 2>/dev/null || true
  for u in precheck-bridge.service precheck-sync.service precheck-sync.timer; do
    install -m 0644 "$PREFIX/deploy/systemd/$u" /etc/systemd/system/
  done
fi

systemctl daemon-reload
[ $WANT_SERVICE = 1 ] && systemctl enable --now precheck-service.service
[ $WANT_BRIDGE = 1 ] && systemctl enable --now precheck-bridge.service precheck-sync.timer
echo "install.sh: done. Check with: sudo -u precheck node $PREFIX/bin/precheck.js doctor --config /etc/precheck/bridge.json"
