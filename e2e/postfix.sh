#!/usr/bin/env bash
# End-to-end under a real Postfix: install Postfix (local only) and cryptforward with
# install.sh --postfix, then send root mail the ways a server does and check that each message
# went through the alias table's pipe as the cryptforward user, was kept locally, and reached the
# relay (a sink on 127.0.0.1) encrypted so that gpg decrypts it to the original; that a relay
# outage defers the mail in Postfix's queue and a flush delivers it exactly once; and that
# install.sh is idempotent and uninstalls cleanly. With E2E_SERVICE=yes the mail goes through the
# resident service (cryptforward serve, started without systemd as the cryptforward user).
set -euo pipefail
STAGE=postfix
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"
require_permission
make_work_dir
ALIASES_BACKUP=$WORK/etc-aliases
restore() {
    local status=$?
    if [ -f "$ALIASES_BACKUP" ]; then
        cp "$ALIASES_BACKUP" /etc/aliases
        newaliases 2>/dev/null || true
    fi
    if [ $status -ne 0 ] && [ -f /var/log/postfix.log ]; then
        echo "---- last lines of /var/log/postfix.log" >&2
        tail -n 25 /var/log/postfix.log >&2
    fi
    cleanup_work
}
trap restore EXIT
POSTFIX_LOG=/var/log/postfix.log
PIPE="delivered to command: $CF deliver"

# ---------------------------------------------------------------------------------------------
step "packages: postfix (Local only), bsd-mailx, gnupg, mandoc"
host=$(hostname)
printf '%s\n' "postfix postfix/main_mailer_type select Local only" "postfix postfix/mailname string $host" |
    debconf-set-selections
stop_exim
packages=()
dpkg-query -W -f '${Status}' postfix 2>/dev/null | grep -q 'install ok installed' || packages+=(postfix)
command -v mail >/dev/null 2>&1 || packages+=(bsd-mailx)
command -v gpg >/dev/null 2>&1 || packages+=(gnupg)
command -v mandoc >/dev/null 2>&1 || packages+=(mandoc)
if [ ${#packages[@]} -gt 0 ]; then
    log "apt-get install ${packages[*]}"
    apt_install "${packages[@]}"
fi
postconf mail_version

step "man pages"
lint_man_pages

step "Postfix: log to $POSTFIX_LOG, start"
stop_postfix
postconf -e "maillog_file = $POSTFIX_LOG" "inet_interfaces = loopback-only"
clean_previous_install
postconf -e "alias_maps = hash:/etc/aliases" "alias_database = hash:/etc/aliases"
cp /etc/aliases "$ALIASES_BACKUP"
newaliases
: >"$POSTFIX_LOG"
timeout 60 postfix start >/dev/null 2>&1 || fail "postfix start"
wait_for 30 "Postfix to start" timeout 10 postfix status

# ---------------------------------------------------------------------------------------------
step "install.sh --postfix"
t0=$(date +%s%N)
"$REPO/install.sh" --postfix >"$WORK/install.log" 2>&1 || {
    cat "$WORK/install.log" >&2
    fail "install.sh --postfix"
}
log "install.sh --postfix took $((($(date +%s%N) - t0) / 1000000)) ms"
sed 's/^/    /' "$WORK/install.log"
check_installed_files
cmp -s "$REPO/examples/cryptforward.aliases" /etc/cryptforward/aliases || fail "/etc/cryptforward/aliases is not examples/cryptforward.aliases"
expect_perms /etc/cryptforward/aliases "$CF_USER:$CF_USER 644"
expect_perms /etc/cryptforward/aliases.db "$CF_USER:$CF_USER 644"
diff <(grep -v '^#' "$REPO/examples/postfix/main.cf") <(postconf -n alias_maps alias_database) ||
    fail "main.cf after install.sh --postfix is not examples/postfix/main.cf"
[ "$(postalias -q root hash:/etc/cryptforward/aliases)" = "\"|$CF deliver\"" ] || fail "root is not aliased to the pipe"
log "alias table, its database (owned by $CF_USER) and alias_maps as in examples/"

step "README quick start, verbatim (install.sh again: idempotent)"
quick=$(grep -m 1 '^    ./install.sh && cryptforward deliver --dry-run' "$REPO/README.md" | sed 's/^    //')
[ -n "$quick" ] || fail "README.md has no quick start command"
log "running: $quick"
md5sum /etc/postfix/main.cf /etc/cryptforward/aliases "$CONFIG" >"$WORK/before.md5"
postalias -s hash:/etc/cryptforward/aliases >"$WORK/aliases-before"
(cd "$REPO" && PATH=/usr/local/bin:$PATH bash -c "$quick") >"$WORK/quick.out" 2>"$WORK/quick.err" || {
    cat "$WORK/quick.err" >&2
    fail "the README's quick start command"
}
md5sum --quiet -c "$WORK/before.md5" || fail "a second install.sh changed main.cf, the alias table or the configuration"
postalias -s hash:/etc/cryptforward/aliases | diff "$WORK/aliases-before" - || fail "a second install.sh changed the alias table"
grep -q "kept the existing $CONFIG" "$WORK/quick.err" "$WORK/quick.out" || fail "the second install.sh did not keep the configuration"
grep -q 'rule=root-to-admin .*status=sent (dry run' "$WORK/quick.out" || fail "the dry run printed no log line: $(head -n 3 "$WORK/quick.out")"
sed -n '/^-----BEGIN PGP MESSAGE-----$/,/^-----END PGP MESSAGE-----$/p' "$WORK/quick.out" >"$WORK/quick.asc"
mkdir -m 0700 "$WORK/demo-gnupg"
gpg --homedir "$WORK/demo-gnupg" --batch --quiet --import "$REPO/src/test/resources/keys/demo.sec.asc" 2>/dev/null
gpg --homedir "$WORK/demo-gnupg" --batch --quiet --decrypt "$WORK/quick.asc" >"$WORK/quick.plain" 2>"$WORK/quick.gpg" ||
    fail "gpg could not decrypt the dry run's message: $(cat "$WORK/quick.gpg")"
gpgconf --homedir "$WORK/demo-gnupg" --kill all >/dev/null 2>&1 || true
tail -n 2 "$REPO/examples/demo/cron-mail.eml" | cmp -s - <(tail -n 2 "$WORK/quick.plain") ||
    fail "the dry run's message does not decrypt to the demo mail"
[ ! -e "$REPO/examples/demo/Maildir" ] && [ ! -e "$REPO/examples/demo/state" ] || fail "the dry run wrote to examples/demo"
log "quick start: installed again without changes; the dry run's message decrypts to the demo mail"

step "start-up archive: used, and what it saves"
CRYPTFORWARD_JAVA_OPTS="-Xshare:on -Xlog:class+load=info" "$CF" deliver --dry-run \
    --config "$REPO/examples/demo/cryptforward.toml" <"$REPO/examples/demo/cron-mail.eml" >"$WORK/classes.log" 2>&1 ||
    fail "a dry run with -Xshare:on failed: the archive is not usable"
shared=$(grep -c 'source: shared objects file' "$WORK/classes.log" || true)
total=$(grep -c '\[class,load\]' "$WORK/classes.log" || true)
for class in org.cryptforward.pipeline.Delivery org.cryptforward.config.ConfigLoader org.bouncycastle.openpgp.PGPPublicKey; do
    grep -q "\] $class source: shared objects file" "$WORK/classes.log" || fail "$class was not loaded from the archive"
done
log "with -Xshare:on: $shared of $total classes came from the archives"
dry_run_ms() {
    local t0 times=()
    for _ in 1 2 3 4 5; do
        t0=$(date +%s%N)
        "$CF" deliver --dry-run --config "$REPO/examples/demo/cryptforward.toml" <"$REPO/examples/demo/cron-mail.eml" >/dev/null
        times+=($((($(date +%s%N) - t0) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}
jsa=/usr/local/lib/cryptforward/cryptforward.jsa
with=$(dry_run_ms)
mv "$jsa" "$WORK/cryptforward.jsa"
without=$(dry_run_ms)
mv "$WORK/cryptforward.jsa" "$jsa"
log "deliver --dry-run, median of 5: ${without} ms without the archive, ${with} ms with it"

# ---------------------------------------------------------------------------------------------
step "configure as the README says: key, forward address, relay"
start_sink
configure_cryptforward
# A second rule for the .forward route: mail for the cryptforward user itself.
cat >>"$CONFIG" <<EOF

[[rule]]
name = "service-user"
recipient = ["$CF_USER", "$CF_USER@*"]
forward_to = ["$FORWARD_TO"]
keys = ["$FORWARD_TO"]
EOF
runuser -u "$CF_USER" -- "$CF" check >/dev/null || fail "check after adding the second rule"
start_service
check_cron_entry_quiet
# root must not ALSO be resolved by /etc/aliases: give it an entry there that swallows the mail.
# Only if the cryptforward table comes first does root's mail reach the pipe.
printf 'root: /dev/null\n' >>/etc/aliases
newaliases
log "/etc/aliases now has 'root: /dev/null' (the cryptforward table must win)"

# qid_of TOKEN: Postfix's queue id of the message whose Message-ID holds TOKEN
qid_of() {
    sed -n "s/.*postfix\/cleanup\[[0-9]*\]: \([0-9A-F]*\): message-id=<$1@e2e.test>.*/\1/p" "$POSTFIX_LOG" | head -n 1
}
pipe_sent() {
    grep -q "postfix/local\[[0-9]*\]: $1: to=<.*status=sent ($PIPE)" "$POSTFIX_LOG"
}
# delivered_through_pipe TOKEN: Postfix logged status=sent for the pipe
delivered_through_pipe() {
    local token=$1 qid
    wait_for 60 "the forward of $token at the sink" sink_has "$token"
    qid=$(qid_of "$token")
    [ -n "$qid" ] || fail "no queue id for $token in $POSTFIX_LOG"
    wait_for 10 "status=sent for $qid" pipe_sent "$qid"
    log "Postfix: $(grep "postfix/local\[[0-9]*\]: $qid: to=" "$POSTFIX_LOG" | tail -n 1 | sed 's/.*: to=/to=/')"
    expect_served "$token"
}

# ---------------------------------------------------------------------------------------------
step "sendmail root, as cron sends it"
T1=CRON$RANDOM$RANDOM
cron_message "$T1" "$WORK/$T1.eml"
sendmail -FCronDaemon -i -B8BITMIME -oem root <"$WORK/$T1.eml"
delivered_through_pipe "$T1"
verify_forward "$T1" "$WORK/$T1.eml" "$T1-BODY"
check_cryptforward_log "$T1"
grep -q "delivered to file: /dev/null" "$POSTFIX_LOG" && fail "root's mail was (also) delivered by /etc/aliases"

step "mail -s (bsd-mailx)"
T2=MAILX$RANDOM$RANDOM
printf 'Subject: disk report %s\n\nFilesystem /var is 91%% full.\nsecret line %s-BODY\n' "$T2" "$T2" >"$WORK/$T2.eml"
printf 'Filesystem /var is 91%% full.\nsecret line %s-BODY\n' "$T2" |
    mail -s "disk report $T2" -a "Message-ID: <$T2@e2e.test>" -a "X-E2E: mailx" root
delivered_through_pipe "$T2"
verify_forward "$T2" "$WORK/$T2.eml" "$T2-BODY"

step "SMTP to 127.0.0.1:25"
T3=SMTP$RANDOM$RANDOM
printf 'From: monitor@example.net\nTo: root@localhost\nSubject: smartd warning %s\nMessage-ID: <%s@e2e.test>\nX-E2E: smtp\n\nDevice /dev/sda: 8 Currently unreadable sectors\nsecret line %s-BODY\n' \
    "$T3" "$T3" "$T3" >"$WORK/$T3.eml"
python3 - "$WORK/$T3.eml" <<'EOF'
import smtplib, sys
with open(sys.argv[1], "rb") as f:
    data = f.read().replace(b"\n", b"\r\n")  # SMTP lines end in CRLF; smtplib sends bytes as given
with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
    s.sendmail("monitor@example.net", ["root@localhost"], data)
EOF
delivered_through_pipe "$T3"
verify_forward "$T3" "$WORK/$T3.eml" "$T3-BODY"

step ".forward of the cryptforward user (examples/dot-forward)"
install -o "$CF_USER" -g "$CF_USER" -m 0644 "$REPO/examples/dot-forward" /var/lib/cryptforward/.forward
T4=FWD$RANDOM$RANDOM
printf 'From: root\nTo: %s\nSubject: via dot-forward %s\nMessage-ID: <%s@e2e.test>\n\nsecret line %s-BODY\n' \
    "$CF_USER" "$T4" "$T4" "$T4" >"$WORK/$T4.eml"
sendmail -i "$CF_USER" <"$WORK/$T4.eml"
delivered_through_pipe "$T4"
verify_forward "$T4" "$WORK/$T4.eml" "$T4-BODY"
rm -f /var/lib/cryptforward/.forward

# ---------------------------------------------------------------------------------------------
step "relay down: Postfix defers, the cron check reports it; relay back: delivered exactly once"
stop_sink
check_cron_entry_reports
T5=DEFER$RANDOM$RANDOM
cron_message "$T5" "$WORK/$T5.eml"
sendmail -FCronDaemon -i -B8BITMIME -oem root <"$WORK/$T5.eml"
deferred() {
    local qid
    qid=$(qid_of "$T5")
    [ -n "$qid" ] && grep -q "postfix/local\[[0-9]*\]: $qid: to=<.*status=deferred" "$POSTFIX_LOG"
}
wait_for 60 "Postfix to defer $T5" deferred
qid=$(qid_of "$T5")
log "Postfix: $(grep "postfix/local\[[0-9]*\]: $qid: to=" "$POSTFIX_LOG" | tail -n 1 | sed 's/.*: to=/to=/')"
grep "postfix/local\[[0-9]*\]: $qid: to=" "$POSTFIX_LOG" | tail -n 1 |
    grep -q "dsn=4.4.1, status=deferred (cryptforward: relay 127.0.0.1:$SINK_PORT refused connection" ||
    fail "the deferral does not carry cryptforward's status line (4.4.1, relay refused connection)"
mailq >"$WORK/mailq"
grep -q "^${qid}[* !]" "$WORK/mailq" || fail "mailq does not list $qid: $(cat "$WORK/mailq")"
grep -q "(cryptforward: relay 127.0.0.1:$SINK_PORT refused connection" "$WORK/mailq" ||
    fail "mailq does not show the reason: $(cat "$WORK/mailq")"
log "mailq: $qid deferred: $(grep -o '(cryptforward[^)]*)' "$WORK/mailq" | head -n 1)"
[ "$(local_count "$T5")" = 1 ] || fail "the local copy of $T5 was not kept while the relay was down"
[ "$(sink_count "$T5")" = 0 ] || fail "the sink got $T5 while it was down"
start_sink
postqueue -f
delivered_through_pipe "$T5"
wait_for 30 "the queue to empty" sh -c 'postqueue -p | grep -q "Mail queue is empty"'
sleep 2
[ "$(sink_count "$T5")" = 1 ] || fail "$T5 reached the relay $(sink_count "$T5") times"
[ "$(local_count "$T5")" = 1 ] || fail "$T5 was kept locally $(local_count "$T5") times"
verify_forward "$T5" "$WORK/$T5.eml" "$T5-BODY"
log "after postqueue -f: delivered once, one local copy"
check_cron_entry_quiet

# ---------------------------------------------------------------------------------------------
step "install.sh --uninstall keeps config, keys and mail; --purge removes them"
stop_service
cp "$ALIASES_BACKUP" /etc/aliases
newaliases
"$REPO/install.sh" --uninstall >"$WORK/uninstall.log" 2>&1 || {
    cat "$WORK/uninstall.log" >&2
    fail "install.sh --uninstall"
}
[ ! -e "$CF" ] && [ ! -e /usr/local/lib/cryptforward ] && [ ! -e /usr/local/share/man/man1/cryptforward.1 ] &&
    [ ! -e /usr/local/share/bash-completion/completions/cryptforward ] || fail "--uninstall left program files"
[ "$(postconf -h alias_maps)" = "hash:/etc/aliases" ] || fail "alias_maps after --uninstall: $(postconf -h alias_maps)"
[ "$(postconf -h alias_database)" = "hash:/etc/aliases" ] || fail "alias_database after --uninstall: $(postconf -h alias_database)"
[ -f "$CONFIG" ] && [ -n "$(ls /var/lib/cryptforward/keyring)" ] && [ "$(local_count "$T1")" = 1 ] ||
    fail "--uninstall removed configuration, keys or mail"
getent passwd "$CF_USER" >/dev/null || fail "--uninstall removed the user"
"$REPO/install.sh" --uninstall --purge --yes >"$WORK/purge.log" 2>&1 || {
    cat "$WORK/purge.log" >&2
    fail "install.sh --uninstall --purge"
}
[ ! -e /etc/cryptforward ] && [ ! -e /var/lib/cryptforward ] || fail "--purge left /etc/cryptforward or /var/lib/cryptforward"
! getent passwd "$CF_USER" >/dev/null || fail "--purge left the user"
log "uninstalled: alias_maps = $(postconf -h alias_maps); purged"
rm -f "$ALIASES_BACKUP"

finish_stage
