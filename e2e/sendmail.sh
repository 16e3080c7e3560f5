#!/usr/bin/env bash
# End-to-end on a host without an MTA: purge Postfix and Exim, install cron and cryptforward with
# install.sh --sendmail, then let the real cron daemon mail a failing job's output (to root, and
# with MAILTO to an outside address), send with mail(1) and with sendmail -t (To, Cc, Bcc), and
# check that each message is kept locally once and reaches the relay (a sink on 127.0.0.1)
# encrypted so that gpg decrypts it to the original, without Bcc. With the relay down the mail is
# queued (mailq shows it, sendmail exits 0, cron logs no error) as ciphertext only, and once the
# relay is back one queue run delivers it exactly once. install.sh refuses --sendmail where an MTA
# owns /usr/sbin/sendmail, is idempotent, and --uninstall removes what it set up.
set -euo pipefail
STAGE=sendmail
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"
require_permission
make_work_dir
SYSLOG_PID=
CRON_PID=
restore() {
    local status=$?
    if [ $status -ne 0 ]; then
        [ -f "${SYSLOG:-}" ] && { echo "---- last lines of $SYSLOG" >&2; tail -n 25 "$SYSLOG" >&2; }
        [ -f "$CF_LOG" ] && { echo "---- last lines of $CF_LOG" >&2; tail -n 15 "$CF_LOG" >&2; }
    fi
    if [ -n "$CRON_PID" ]; then
        kill "$CRON_PID" 2>/dev/null || true
    fi
    rm -f /etc/cron.d/e2e-sendmail
    if [ -n "$SYSLOG_PID" ]; then
        kill "$SYSLOG_PID" 2>/dev/null || true
        rm -f /dev/log
    fi
    cleanup_work
}
trap restore EXIT

# ---------------------------------------------------------------------------------------------
step "no MTA: purge Postfix and Exim; install cron, gnupg, mandoc"
stop_postfix
stop_exim
export DEBIAN_FRONTEND=noninteractive
mtas=$(dpkg-query -W -f '${Package} ${Status}\n' 'postfix*' 'exim4*' nullmailer msmtp-mta dma ssmtp opensmtpd sendmail-bin 2>/dev/null |
    awk '/ installed$/ { print $1 }' || true)
if [ -n "$mtas" ]; then
    log "apt-get purge $(printf '%s ' $mtas)"
    # shellcheck disable=SC2086
    apt-get purge -y -q $mtas >"$WORK/purge-mta.log" 2>&1 || {
        tail -n 20 "$WORK/purge-mta.log" >&2
        fail "apt-get purge of the MTA"
    }
fi
clean_previous_install
for p in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases; do
    [ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p is still there after purging the MTAs"
done
packages=()
command -v cron >/dev/null 2>&1 || packages+=(cron)
command -v gpg >/dev/null 2>&1 || packages+=(gnupg)
command -v mandoc >/dev/null 2>&1 || packages+=(mandoc)
if [ ${#packages[@]} -gt 0 ]; then
    log "apt-get install --no-install-recommends ${packages[*]}"
    apt_install --no-install-recommends "${packages[@]}"
fi
lint_man_pages

# cron logs to syslog; where no syslog daemon runs, listen on /dev/log ourselves
SYSLOG=/var/log/syslog
if [ ! -e /dev/log ]; then
    SYSLOG=$WORK/syslog
    python3 - "$WORK/syslog" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
EOF
    SYSLOG_PID=$!
    wait_for 10 "the syslog listener" test -S /dev/log
    log "listening on /dev/log for cron's log lines"
fi

# ---------------------------------------------------------------------------------------------
step "install.sh --sendmail refuses where an MTA owns /usr/sbin/sendmail"
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/sendmail
chmod 755 /usr/sbin/sendmail
if "$REPO/install.sh" --sendmail >"$WORK/refused.log" 2>&1; then
    rm -f /usr/sbin/sendmail
    fail "install.sh --sendmail went ahead over an existing /usr/sbin/sendmail"
fi
rm -f /usr/sbin/sendmail
grep -q "use --postfix or --exim" "$WORK/refused.log" || fail "the refusal does not say what to use: $(cat "$WORK/refused.log")"
log "refused: $(grep -o 'error: .*' "$WORK/refused.log" | head -n 1)"

step "install.sh --sendmail"
"$REPO/install.sh" --sendmail >"$WORK/install.log" 2>&1 || {
    cat "$WORK/install.log" >&2
    fail "install.sh --sendmail"
}
sed 's/^/    /' "$WORK/install.log"
check_installed_files
for p in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases; do
    [ "$(readlink "$p")" = /usr/local/lib/cryptforward/sendmail ] || fail "$p is not linked to the wrapper"
done
expect_perms /usr/local/lib/cryptforward/sendmail "root:root 755"
cmp -s "$REPO/examples/cron.d/cryptforward-queue" /etc/cron.d/cryptforward-queue || fail "/etc/cron.d/cryptforward-queue is not examples/cron.d/cryptforward-queue"
dpkg-query -W -f '${Provides}' cryptforward-sendmail | grep -q mail-transport-agent || fail "dpkg does not know cryptforward as the MTA"
"$REPO/install.sh" --sendmail >"$WORK/install2.log" 2>&1 || fail "install.sh --sendmail, a second time"
grep -q "is up to date" "$WORK/install2.log" && grep -q "is in place" "$WORK/install2.log" || fail "the second install.sh --sendmail changed something"

step "bsd-mailx, with cryptforward as the MTA (no other MTA pulled in)"
command -v mail >/dev/null 2>&1 || apt_install --no-install-recommends bsd-mailx
for pkg in postfix exim4-base exim4-daemon-light; do
    ! dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || fail "$pkg was installed"
done
[ "$(readlink /usr/sbin/sendmail)" = /usr/local/lib/cryptforward/sendmail ] || fail "/usr/sbin/sendmail was taken over"

# ---------------------------------------------------------------------------------------------
step "configure; cron started"
start_sink
configure_cryptforward
cat >>"$CONFIG" <<EOF

[[rule]]
name = "mailto-admin"
recipient = ["admin@example.org"]
forward_to = ["$FORWARD_TO"]
keys = ["$FORWARD_TO"]
EOF
runuser -u "$CF_USER" -- "$CF" check >/dev/null || fail "check after adding the mailto rule"
touch "$SYSLOG"
SYSLOG_START=$(wc -l <"$SYSLOG")
# cron's log lines of this stage
cron_log() {
    tail -n +"$((SYSLOG_START + 1))" "$SYSLOG" | grep -i 'cron'
}
# whether cron logged that it ran job $1 (its CMD line goes through syslog, and may reach the log
# file after the job's mail reached the queue)
cron_logged() { cron_log | grep -q "CMD (.*/bin/sh $WORK/job-$1.sh)"; }
/usr/sbin/cron -f -L 15 &
CRON_PID=$!
wait_for 20 "cron to start (its first log line)" sh -c "tail -n +$((SYSLOG_START + 1)) '$SYSLOG' | grep -qi cron"
log "cron running (pid $CRON_PID)"

# cron_job TOKEN [MAILTO]: a cron.d job that fails once, printing a body line with TOKEN-BODY
cron_jobs() {
    local line
    : >/etc/cron.d/e2e-sendmail.new
    printf 'SHELL=/bin/sh\nPATH=/usr/bin:/bin\n' >>/etc/cron.d/e2e-sendmail.new
    for line in "$@"; do
        local token=${line%%:*} mailto=${line#*:}
        cat >"$WORK/job-$token.sh" <<EOF
[ -e "$WORK/$token.ran" ] && exit 0
touch "$WORK/$token.ran"
echo "pg_dump: error: connection to server failed"
echo "secret line $token-BODY"
exit 3
EOF
        [ "$mailto" = "$token" ] || printf 'MAILTO=%s\n' "$mailto" >>/etc/cron.d/e2e-sendmail.new
        printf '* * * * * root /bin/sh %s\n' "$WORK/job-$token.sh" >>/etc/cron.d/e2e-sendmail.new
    done
    chmod 0644 /etc/cron.d/e2e-sendmail.new
    mv /etc/cron.d/e2e-sendmail.new /etc/cron.d/e2e-sendmail
}

cron_errors() {
    # what cron logs when it cannot mail (the job's own failure, "grandchild ... failed", is expected)
    cron_log | grep -E '\) MAIL \(|No MTA|status 0x' | grep -v 'pam_' || true
}

# ---------------------------------------------------------------------------------------------
step "cron: a failing job mails root (MAILTO unset) and admin@example.org (MAILTO)"
C1=CRONROOT$RANDOM$RANDOM
C2=CRONMAILTO$RANDOM$RANDOM
cron_jobs "$C1:$C1" "$C2:admin@example.org"
wait_for 150 "cron's mail of $C1 at the sink" sink_has "$C1"
wait_for 30 "cron's mail of $C2 at the sink" sink_has "$C2"
rm -f /etc/cron.d/e2e-sendmail
verify_forward "$C1" "" "$C1-BODY"
verify_forward "$C2" "" "$C2-BODY"
wait_for 20 "cron's log line of the job $C1" cron_logged "$C1"
[ -z "$(cron_errors)" ] || fail "cron logged an error: $(cron_errors)"
grep -q "to=<root> rule=root-to-admin" "$CF_LOG" && grep -q "to=<admin@example.org> rule=mailto-admin" "$CF_LOG" ||
    fail "the log does not show both recipients routed"

step "mail -s (bsd-mailx)"
T2=MAILX$RANDOM$RANDOM
printf 'x\nsecret line %s-BODY\n' "$T2" | mail -s "test $T2" root
wait_for 60 "the forward of $T2" sink_has "$T2"
verify_forward "$T2" "" "$T2-BODY"

step "sendmail -t with To, Cc and Bcc"
T3=DASHT$RANDOM$RANDOM
{
    printf 'From: smartd daemon <root@%s>\n' "$(hostname)"
    printf 'To: root\n'
    printf 'Cc: admin@example.org\n'
    printf 'Bcc: hidden-%s@example.net\n' "$T3"
    printf 'Subject: SMART error %s\n' "$T3"
    printf 'Message-ID: <%s@e2e.test>\n' "$T3"
    printf 'X-E2E: sendmail-t\n'
    printf '\nDevice: /dev/sda, 8 Currently unreadable sectors\nsecret line %s-BODY\n' "$T3"
} >"$WORK/$T3.in"
grep -v '^Bcc:' "$WORK/$T3.in" >"$WORK/$T3.eml"
sendmail -oi -t <"$WORK/$T3.in" || fail "sendmail -t exited $?"
wait_for 60 "the forward of $T3" sink_has "$T3"
sleep 1
[ "$(sink_count "$T3")" = 1 ] || fail "$T3: the relay got $(sink_count "$T3") forwards (To root and Cc admin choose one rule: one forward)"
verify_forward "$T3" "$WORK/$T3.eml" "$T3-BODY"
! grep -rq "hidden-$T3" "$MAILDIR" "$SINK_DIR" || fail "the Bcc address is in the local copy or a forward"
log "one local copy, one forward, Bcc gone"

# ---------------------------------------------------------------------------------------------
step "relay down: queued as ciphertext, sendmail exits 0, cron logs no error; relay back: delivered once"
stop_sink
C5=CRONDOWN$RANDOM$RANDOM
cron_jobs "$C5:$C5"
queued() { mailq | grep -q "$FORWARD_TO"; }
wait_for 150 "cron's mail of $C5 in the queue" queued
rm -f /etc/cron.d/e2e-sendmail
mailq >"$WORK/mailq"
sed 's/^/    /' "$WORK/mailq"
grep -q "refused connection" "$WORK/mailq" || fail "mailq does not show the relay's error"
[ "$(local_count "$C5")" = 1 ] || fail "the local copy of $C5 was not kept while the relay was down"
wait_for 20 "cron's log line of the job $C5" cron_logged "$C5"
sleep 2
[ -z "$(cron_errors)" ] || fail "cron logged an error while the relay was down: $(cron_errors)"
T6=DOWN$RANDOM$RANDOM
printf 'To: root\nSubject: relay down %s\n\nsecret line %s-BODY\n' "$T6" "$T6" | sendmail -i -t || fail "sendmail exited $? with the relay down"
for t in "$C5" "$T6"; do
    ! grep -rq -- "$t-BODY" /var/lib/cryptforward/state || fail "plaintext of $t in the queue: $(grep -rl -- "$t-BODY" /var/lib/cryptforward/state)"
done
[ "$(find /var/lib/cryptforward/state/queue -type f -perm /077 | wc -l)" = 0 ] || fail "a queue file readable by others"
log "queued: $(grep -c "^[0-9A-F]" "$WORK/mailq") entr(y/ies); no plaintext in the state directory; cron logged no error"
start_sink
runuser -u "$CF_USER" -- "$CF" queue run >"$WORK/queue-run.out" 2>&1 || fail "queue run: $(cat "$WORK/queue-run.out")"
log "queue run: $(cat "$WORK/queue-run.out")"
wait_for 60 "the forward of $C5" sink_has "$C5"
wait_for 60 "the forward of $T6" sink_has "$T6"
runuser -u "$CF_USER" -- "$CF" queue run --due >/dev/null 2>&1 || true
sleep 2
for t in "$C5" "$T6"; do
    [ "$(sink_count "$t")" = 1 ] || fail "$t reached the relay $(sink_count "$t") times"
done
verify_forward "$C5" "" "$C5-BODY"
verify_forward "$T6" "" "$T6-BODY"
mailq | grep -qx "Mail queue is empty" || fail "the queue is not empty: $(mailq)"
newaliases >"$WORK/newaliases.out" || fail "newaliases failed"
runuser -u "$CF_USER" -- "$CF" check >"$WORK/check.out" 2>&1 || fail "check: $(cat "$WORK/check.out")"
grep -q "ok: queue .* is empty" "$WORK/check.out" || fail "check does not report the queue: $(cat "$WORK/check.out")"
log "after the relay came back: each delivered once, queue empty"

# ---------------------------------------------------------------------------------------------
step "install.sh --uninstall removes sendmail and the queue runner"
kill "$CRON_PID" 2>/dev/null || true
CRON_PID=
apt-get purge -y -q bsd-mailx >"$WORK/purge-mailx.log" 2>&1 || fail "apt-get purge bsd-mailx"
"$REPO/install.sh" --uninstall --purge --yes >"$WORK/uninstall.log" 2>&1 || {
    cat "$WORK/uninstall.log" >&2
    fail "install.sh --uninstall --purge"
}
for p in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases /etc/cron.d/cryptforward-queue \
    /usr/local/lib/cryptforward/sendmail; do
    [ ! -e "$p" ] && [ ! -L "$p" ] || fail "--uninstall left $p"
done
! dpkg-query -W -f '${Status}' cryptforward-sendmail 2>/dev/null | grep -q 'install ok installed' || fail "--uninstall left the MTA package"
log "uninstalled"

finish_stage
