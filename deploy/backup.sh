#!/usr/bin/env bash
# Back up what cannot be recreated: the service's keys and database, the bridge's pins and outbox.
#   sudo deploy/backup.sh /srv/backups/precheck-$(date +%F).tar.gz
# - service: card.key (turns card numbers into tokens: without it every stored token is useless),
#   signing.key (devices are provisioned with its public key: a new one means re-provisioning),
#   admin.key, precheck.db (copied with SQLite's online backup, consistent while it runs).
# - bridge: pins.json (the paired devices' keys and the host's own key: without it every device
#   must be paired again), outbox.db (outcomes not yet forwarded), config.
# The archive holds secrets: it is written mode 0600; store it encrypted.
set -euo pipefail
OUT="${1:?usage: backup.sh OUT.tar.gz}"
LIB="${PRECHECK_LIB:-/var/lib/precheck}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
umask 077
snap() { # SQLite online backup (a plain copy of a live WAL database can be torn)
  node -e 'const D=require(process.argv[1]);const db=new D(process.argv[2],{readonly:true});db.backup(process.argv[3]).then(()=>db.close())' \
    "${PRECHECK_PREFIX:-/opt/precheck}/node_modules/better-sqlite3" "$1" "$2"
}
if [ -d "$LIB/server" ]; then
  mkdir -p "$TMP/server"
  cp -p "$LIB/server/card.key" "$LIB/server/signing.key" "$TMP/server/"
  [ -e "$LIB/server/admin.key" ] && cp -p "$LIB/server/admin.key" "$TMP/server/"
  [ -e "$LIB/server/precheck.db" ] && snap "$LIB/server/precheck.db" "$TMP/server/precheck.db"
fi
if [ -d "$LIB/bridge" ]; then
  mkdir -p "$TMP/bridge"
  [ -e "$LIB/bridge/pins.json" ] && cp -p "$LIB/bridge/pins.json" "$TMP/bridge/"
  for db in "$LIB"/bridge/*.db; do [ -e "$db" ] && snap "$db" "$TMP/bridge/$(basename "$db")"; done
  [ -e /etc/precheck/bridge.json ] && cp -p /etc/precheck/bridge.json "$TMP/bridge/"
fi
tar -C "$TMP" -czf "$OUT" .
chmod 600 "$OUT"
echo "backup.sh: wrote $OUT"
