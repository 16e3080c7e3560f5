#!/usr/bin/env bash
# End-to-end under Debian's Exim: install exim4 (local delivery only; this replaces Postfix) and
# cryptforward with install.sh --exim, send root a cron-shaped mail and check that Exim ran the
# /etc/aliases pipe as the cryptforward user, that the mail was kept locally and reached the
# relay (a sink on 127.0.0.1) encrypted so that gpg decrypts it to the original; that a relay
# outage defers it in Exim's queue and a forced queue run delivers it exactly once; and that
# install.sh --uninstall --purge takes its settings out of Exim's configuration again.
set -euo pipefail
STAGE=exim
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"
require_permission
make_work_dir
ALIASES_BACKUP=$WORK/etc-aliases
MACROS=/etc/exim4/exim4.conf.localmacros
MACROS_BACKUP=$WORK/localmacros
restore() {
    local status=$?
    if [ -f "$ALIASES_BACKUP" ]; then
        cp "$ALIASES_BACKUP" /etc/aliases
    fi
    if [ -f "$MACROS_BACKUP" ]; then
        cp "$MACROS_BACKUP" "$MACROS"
        update-exim4.conf >/dev/null 2>&1 || true
    fi
    if [ $status -ne 0 ] && [ -f /var/log/exim4/mainlog ]; then
        echo "---- last lines of /var/log/exim4/mainlog" >&2
        tail -n 25 /var/log/exim4/mainlog >&2
    fi
    cleanup_work
}
trap restore EXIT
EXIM_LOG=/var/log/exim4/mainlog

# ---------------------------------------------------------------------------------------------
step "packages: exim4-daemon-light (local delivery only; replaces Postfix), bsd-mailx, gnupg"
host=$(hostname)
printf '%s\n' \
    "exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network" \
    "exim4-config exim4/dc_local_interfaces string 127.0.0.1 ; ::1" \
    "exim4-config exim4/mailname string $host" |
    debconf-set-selections
stop_postfix
packages=()
dpkg-query -W -f '${Status}' exim4-daemon-light 2>/dev/null | grep -q 'install ok installed' || packages+=(exim4-daemon-light)
command -v mail >/dev/null 2>&1 || packages+=(bsd-mailx)
command -v gpg >/dev/null 2>&1 || packages+=(gnupg)
if [ ${#packages[@]} -gt 0 ]; then
    log "apt-get install ${packages[*]}"
    apt_install "${packages[@]}"
fi
exim4 -bV | head -n 1

step "Exim: local delivery only, start"
grep -q "^dc_eximconfig_configtype='local'" /etc/exim4/update-exim4.conf.conf ||
    fail "Exim is not configured for local delivery only: $(grep configtype /etc/exim4/update-exim4.conf.conf)"
clean_previous_install
cp /etc/aliases "$ALIASES_BACKUP"
if [ -f "$MACROS" ]; then
    cp "$MACROS" "$MACROS_BACKUP"
fi
update-exim4.conf
stop_exim
if [ -f /var/log/exim4/paniclog ]; then
    : >/var/log/exim4/paniclog
fi
# the stage counts on an empty queue: drop what an earlier run on this machine left there
exim4 -bp | awk '/^ *[0-9]+[smhd] / {print $3}' | xargs -r exim4 -Mrm >/dev/null 2>&1 || true
timeout 60 service exim4 start >/dev/null || fail "service exim4 start"
wait_for 30 "Exim to listen on port 25" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 25), 2).close()'

# ---------------------------------------------------------------------------------------------
step "install.sh --exim"
t0=$(date +%s%N)
"$REPO/install.sh" --exim >"$WORK/install.log" 2>&1 || {
    cat "$WORK/install.log" >&2
    fail "install.sh --exim"
}
log "install.sh --exim took $((($(date +%s%N) - t0) / 1000000)) ms"
sed 's/^/    /' "$WORK/install.log"
check_installed_files
grep -qxF -f <(grep -v '^$' "$REPO/examples/exim4/exim4.conf.localmacros") "$MACROS" || fail "$MACROS lacks the example's lines"
python3 - "$REPO/examples/exim4/exim4.conf.localmacros" "$MACROS" <<'EOF' || fail "$MACROS does not hold examples/exim4/exim4.conf.localmacros verbatim"
import sys
example, installed = (open(p).read() for p in sys.argv[1:])
sys.exit(0 if example in installed else 1)
EOF
alias_line=$(grep '^root:' "$REPO/examples/aliases")
grep -qxF "$alias_line" /etc/aliases || fail "/etc/aliases lacks: $alias_line"
exim4 -bt root >"$WORK/route" 2>&1 || fail "exim4 -bt root: $(cat "$WORK/route")"
grep -qF -- "-> |$CF deliver" "$WORK/route" && grep -q 'transport = address_pipe' "$WORK/route" ||
    fail "Exim does not route root to the pipe: $(cat "$WORK/route")"
exim4 -bP macro SYSTEM_ALIASES_USER 2>/dev/null | grep -q "= $CF_USER" ||
    exim4 -bP macros 2>/dev/null | grep -q "SYSTEM_ALIASES_USER=$CF_USER" ||
    fail "Exim does not see SYSTEM_ALIASES_USER = $CF_USER"
log "Exim routes root: $(tr '\n' ' ' <"$WORK/route")"

step "configure as the README says: key, forward address, relay"
start_sink
configure_cryptforward
start_service

# exim_id_of TOKEN: Exim's message id of the message whose Message-ID holds TOKEN
exim_id_of() {
    awk -v id="id=$1@e2e.test" '$4 == "<=" && index($0, id) { print $3; exit }' "$EXIM_LOG"
}
pipe_delivered() {
    grep -q "^.* $1 => |$CF deliver <root@$host> R=system_aliases T=address_pipe" "$EXIM_LOG" &&
        grep -q "^.* $1 Completed" "$EXIM_LOG"
}

# ---------------------------------------------------------------------------------------------
step "sendmail root, as cron sends it"
T1=XCRON$RANDOM$RANDOM
cron_message "$T1" "$WORK/$T1.eml"
sendmail -FCronDaemon -i -B8BITMIME -oem root <"$WORK/$T1.eml"
wait_for 60 "the forward of $T1 at the sink" sink_has "$T1"
id=$(exim_id_of "$T1")
[ -n "$id" ] || fail "no Exim message id for $T1 in $EXIM_LOG"
wait_for 10 "Exim to log the pipe delivery of $id" pipe_delivered "$id"
log "Exim: $(grep " $id => " "$EXIM_LOG" | tail -n 1 | cut -d ' ' -f 4-)"
verify_forward "$T1" "$WORK/$T1.eml" "$T1-BODY"
check_cryptforward_log "$T1"
expect_served "$T1"

# ---------------------------------------------------------------------------------------------
step "relay down: Exim defers; relay back: exim4 -qff delivers exactly once"
stop_sink
T2=XDEFER$RANDOM$RANDOM
cron_message "$T2" "$WORK/$T2.eml"
sendmail -FCronDaemon -i -B8BITMIME -oem root <"$WORK/$T2.eml"
deferred() {
    local id
    id=$(exim_id_of "$T2")
    [ -n "$id" ] && grep -q " $id == |$CF deliver <root@$host> R=system_aliases T=address_pipe defer" "$EXIM_LOG"
}
wait_for 60 "Exim to defer $T2" deferred
id=$(exim_id_of "$T2")
log "Exim: $(grep " $id == " "$EXIM_LOG" | tail -n 1 | cut -d ' ' -f 4-)"
grep " $id == " "$EXIM_LOG" | tail -n 1 | grep -q "returned 75" || fail "Exim did not see exit status 75"
exim4 -bp >"$WORK/queue"
grep -q " $id " "$WORK/queue" || fail "exim4 -bp does not list $id: $(cat "$WORK/queue")"
log "exim4 -bp: $(grep " $id " "$WORK/queue" | tr -s ' ')"
[ "$(local_count "$T2")" = 1 ] || fail "the local copy of $T2 was not kept while the relay was down"
[ "$(sink_count "$T2")" = 0 ] || fail "the sink got $T2 while it was down"
start_sink
exim4 -qff
wait_for 60 "the forward of $T2 at the sink" sink_has "$T2"
wait_for 30 "Exim to complete $id" pipe_delivered "$id"
[ -z "$(exim4 -bp)" ] || fail "Exim's queue is not empty: $(exim4 -bp)"
sleep 2
[ "$(sink_count "$T2")" = 1 ] || fail "$T2 reached the relay $(sink_count "$T2") times"
[ "$(local_count "$T2")" = 1 ] || fail "$T2 was kept locally $(local_count "$T2") times"
verify_forward "$T2" "$WORK/$T2.eml" "$T2-BODY"
log "after exim4 -qff: delivered once, one local copy"
expect_served "$T2"

# ---------------------------------------------------------------------------------------------
step "install.sh --uninstall --purge takes the settings out of Exim's configuration"
stop_service
"$REPO/install.sh" --uninstall --purge --yes >"$WORK/purge.log" 2>&1 || {
    cat "$WORK/purge.log" >&2
    fail "install.sh --uninstall --purge"
}
! grep -qxF "$alias_line" /etc/aliases || fail "/etc/aliases still has: $alias_line"
cmp -s "$ALIASES_BACKUP" /etc/aliases || fail "/etc/aliases is not as it was before install.sh --exim"
if [ -f "$MACROS_BACKUP" ]; then
    cmp -s "$MACROS_BACKUP" "$MACROS" || fail "$MACROS is not as it was before install.sh --exim"
else
    [ ! -e "$MACROS" ] || fail "$MACROS was left behind"
fi
exim4 -bt root >"$WORK/route" 2>&1 || true
! grep -qF "$CF" "$WORK/route" || fail "Exim still routes root to cryptforward"
[ ! -e "$CF" ] && [ ! -e /etc/cryptforward ] && [ ! -e /var/lib/cryptforward ] || fail "--purge left files"
! getent passwd "$CF_USER" >/dev/null || fail "--purge left the user"
log "uninstalled and purged; root routes to: $(head -n 1 "$WORK/route")"
rm -f "$ALIASES_BACKUP" "$MACROS_BACKUP"
[ ! -s /var/log/exim4/paniclog ] || fail "Exim's paniclog: $(tail -n 3 /var/log/exim4/paniclog)"

finish_stage
