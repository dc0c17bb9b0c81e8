#!/bin/sh
# Mosquitto that reloads its accounts by itself: what the compose `mosquitto` service runs.
#
#   sh run.sh [CONFIG [AUTH_DIR]]
#
# CONFIG   the broker configuration ($MOSQUITTO_CONFIG, default /mosquitto/config/mosquitto.conf)
# AUTH_DIR holds `passwd` and `acl` ($MOSQUITTO_AUTH_DIR, default /mosquitto/auth)
# $MOSQUITTO_BIN (default: mosquitto on PATH), $MOSQUITTO_AUTH_POLL_SECONDS (default 1).
#
# Both files are written by `manage.py mqtt_auth_sync --watch` (the broker-auth service), in
# another container, which cannot signal this broker. So this script
#   1. waits until both files exist (the broker would not start without them);
#   2. starts `mosquitto -c CONFIG` in the background and passes TERM, INT and HUP on to it;
#   3. every poll compares a cksum of the two files and sends mosquitto SIGHUP when it
#      changed (once mosquitto handles SIGHUP): Mosquitto re-reads password_file and
#      acl_file and disconnects the clients it no longer accepts;
#   4. exits with mosquitto's exit code (0 when stopped before mosquitto started).
# POSIX sh: runs under busybox (the eclipse-mosquitto image is Alpine) as under dash.
set -u

config=${1:-${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}}
auth_dir=${2:-${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}}
mosquitto=${MOSQUITTO_BIN:-mosquitto}
poll=${MOSQUITTO_AUTH_POLL_SECONDS:-1}
passwd=$auth_dir/passwd
acl=$auth_dir/acl

log() {
    echo "run.sh: $*" >&2
}

pid=""
stopping=""
forward() {
    [ "$1" = HUP ] || stopping=$1
    [ -n "$pid" ] || return 0
    if [ "$1" != HUP ] || handles_hup; then
        kill -"$1" "$pid" 2>/dev/null
    fi
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

# A sleep that a signal cuts short: the shell runs a trap only once a foreground command
# ended, but interrupts `wait` at once.
pause() {
    sleep "$poll" &
    sleeper=$!
    wait "$sleeper"
    kill "$sleeper" 2>/dev/null
}

sums() {
    cksum "$passwd" "$acl" 2>/dev/null
}

# Until mosquitto has installed its signal handlers, after loading its persistence file (which
# takes a while with millions of queued messages), SIGHUP would end it. Linux shows the
# handled signals in /proc (SIGHUP is the lowest bit of SigCgt); elsewhere, assume it does.
handles_hup() {
    [ -r "/proc/$pid/status" ] || return 0
    mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status")
    [ -n "$mask" ] || return 0
    case ${mask#"${mask%?}"} in
        [13579bdfBDF]) return 0 ;;
    esac
    return 1
}

if ! command -v "$mosquitto" >/dev/null 2>&1; then
    log "$mosquitto: not found"
    exit 127
fi

if [ ! -f "$passwd" ] || [ ! -f "$acl" ]; then
    log "waiting for $passwd and $acl (written by manage.py mqtt_auth_sync --watch)"
    while [ ! -f "$passwd" ] || [ ! -f "$acl" ]; do
        [ -n "$stopping" ] && exit 0
        pause
    done
fi
[ -n "$stopping" ] && exit 0

# Taken before the broker reads the files: a change in between only costs one extra reload.
last=$(sums)
"$mosquitto" -c "$config" &
pid=$!
log "mosquitto started (pid $pid, $config); reloads when $passwd or $acl change"
# A signal that came before $pid was known has not been passed on yet.
[ -n "$stopping" ] && kill -"$stopping" "$pid" 2>/dev/null

# The shell reaps its exited children while it waits (for the sleep of pause or for
# mosquitto itself), after which `kill -0` fails and `wait` still returns the exit code.
while kill -0 "$pid" 2>/dev/null; do
    if [ -n "$stopping" ]; then
        wait "$pid"
        continue
    fi
    pause
    [ -n "$stopping" ] && continue
    now=$(sums)
    if [ "$now" != "$last" ] && [ -f "$passwd" ] && [ -f "$acl" ] && handles_hup; then
        last=$now
        log "accounts changed: mosquitto reloads them"
        kill -HUP "$pid" 2>/dev/null
    fi
done
wait "$pid"
status=$?
log "mosquitto exited with $status"
exit "$status"
