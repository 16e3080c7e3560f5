#!/usr/bin/env bash
# End-to-end in a real mail client: the forwards as an admin reads them in NeoMutt.
#
# The launcher ($CRYPTFORWARD_LAUNCHER, as .ci/run sets it, else this checkout's
# target/dist/bin/cryptforward, built with `mvn package` when missing or older than the sources)
# delivers five messages to an SMTP sink on 127.0.0.1: a plain PGP/MIME forward, one with
# protect_subject, an inline one, a content-free notice (the rule's key is missing) and an
# already encrypted message passed through. What the sink received becomes an mbox, which NeoMutt
# opens under tmux (fixed 120x40 screen) with a throwaway GNUPGHOME holding the test secret key.
# The screen is read with `tmux capture-pane`, every wait a bounded poll for what must appear:
# each body is shown decrypted, the protected Subject appears in the pager and, once the message
# was opened, in the index (NeoMutt reads protected-headers="v1" with
# crypt_protected_headers_read), the index shows "[...]" for it before, and no screen shows an
# error. Then, in a Maildir with a header cache, a second session shows the protected Subject
# without opening the message again, while the Maildir file still says "[...]".
# Nothing on this machine is reconfigured: everything lives in a temporary directory, so this
# stage needs neither root nor the e2e lock (it installs nothing; .ci/run does).
set -euo pipefail
STAGE=neomutt
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"
for tool in neomutt tmux gpg python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (.ci/run installs it)"
done
make_work_dir
TMUX_SOCKET=$WORK/tmux.sock
tmux_() { tmux -S "$TMUX_SOCKET" "$@"; }
finish() {
    local status=$?
    if [ $status -ne 0 ] && [ -S "$TMUX_SOCKET" ]; then
        echo "---- the NeoMutt screen" >&2
        tmux_ capture-pane -p -t "$SESSION" >&2 2>/dev/null || true
    fi
    tmux_ kill-server >/dev/null 2>&1 || true
    cleanup_work
}
trap finish EXIT
# CI passes the launcher it has just built and tested; else this checkout's, built when stale
LAUNCHER=${CRYPTFORWARD_LAUNCHER:-$REPO/target/dist/bin/cryptforward}
CFG=$WORK/cryptforward.toml
MBOX=$WORK/forwards.mbox
RUN_ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------------------------------------
step "the launcher: $LAUNCHER"
jar=$REPO/target/dist/lib/cryptforward.jar
if [ -z "${CRYPTFORWARD_LAUNCHER:-}" ] && { [ ! -x "$LAUNCHER" ] || [ ! -f "$jar" ] || [ -n "$(find "$REPO/src/main" "$REPO/pom.xml" -newer "$jar" -print -quit)" ]; }; then
    log "building it: mvn -DskipTests package"
    (cd "$REPO" && { mvn -B -q -o -DskipTests package || mvn -B -q -DskipTests package; }) >"$WORK/build.log" 2>&1 || {
        tail -n 30 "$WORK/build.log" >&2
        fail "mvn -DskipTests package"
    }
fi
[ -x "$LAUNCHER" ] || fail "no launcher at $LAUNCHER"

# ---------------------------------------------------------------------------------------------
step "forwards made by the launcher, as the relay receives them"
start_sink
mkdir -p "$WORK/keyring" "$WORK/state"
cat >"$CFG" <<EOF
keyring = "$WORK/keyring"
state_dir = "$WORK/state"
log_file = "$WORK/cryptforward.log"
hostname = "cf.test"
deadline_seconds = 60

[local]
mailbox = "$WORK/Maildir/"

[relay]
host = "127.0.0.1"
port = $SINK_PORT
timeout_seconds = 10
envelope_from = "cryptforward@cf.test"

[[rule]]
name = "plain"
recipient = ["plain"]
forward_to = ["$FORWARD_TO"]
keys = ["$FORWARD_TO"]

[[rule]]
name = "protected"
recipient = ["protected"]
forward_to = ["$FORWARD_TO"]
keys = ["$FORWARD_TO"]
protect_subject = true

[[rule]]
name = "inline"
recipient = ["inline"]
forward_to = ["$FORWARD_TO"]
keys = ["$FORWARD_TO"]
format = "inline"

[[rule]]
name = "no-key"
recipient = ["notice"]
forward_to = ["$FORWARD_TO"]
keys = ["nobody@example.org"]
EOF
"$LAUNCHER" key import --config "$CFG" <"$KEY_PUB" >"$WORK/import.log" 2>&1 || {
    cat "$WORK/import.log" >&2
    fail "key import"
}
mkdir -m 0700 "$GNUPG_HOME"
gpg --homedir "$GNUPG_HOME" --batch --quiet --import "$KEY_SEC" 2>"$WORK/gpg-import.log" || {
    cat "$WORK/gpg-import.log" >&2
    fail "gpg --import of the test secret key"
}

# message KIND: a cron report whose Subject and body name the kind and this run
message() {
    printf 'From: Cron Daemon <root@host.example>\n'
    printf 'To: root\n'
    printf 'Subject: Cron <root@host> backup-%s %s\n' "$1" "$RUN_ID"
    printf 'Message-ID: <%s-%s@host.example>\n' "$1" "$RUN_ID"
    printf 'MIME-Version: 1.0\n'
    printf 'Content-Type: text/plain; charset=UTF-8\n'
    printf 'Content-Transfer-Encoding: 8bit\n'
    printf '\n'
    printf 'secret body %s-%s\n' "$1" "$RUN_ID"
    printf 'Sicherung fehlgeschlagen \342\200\224 \303\244ltere Kopie bleibt\n'
}

deliver() {
    local status=0
    "$LAUNCHER" deliver --config "$CFG" --recipient "$1" <"$2" >"$WORK/deliver-$1.log" 2>&1 || status=$?
    if [ $status -ne 0 ]; then
        cat "$WORK/deliver-$1.log" >&2
        fail "deliver to $1 exited $status"
    fi
}

for kind in plain protected inline notice; do
    message "$kind" >"$WORK/$kind.eml"
    deliver "$kind" "$WORK/$kind.eml"
done

# an already encrypted message (PGP/MIME made with gpg): forwarded as it is
{
    printf 'Content-Type: text/plain; charset=UTF-8\n\nsecret body passthrough-%s\n' "$RUN_ID"
} >"$WORK/inner.txt"
gpg --homedir "$GNUPG_HOME" --batch --quiet --trust-model always --armor --encrypt -r "$FORWARD_TO" \
    -o "$WORK/inner.asc" "$WORK/inner.txt"
{
    printf 'From: Someone <someone@example.net>\n'
    printf 'To: root\n'
    printf 'Subject: already encrypted %s\n' "$RUN_ID"
    printf 'MIME-Version: 1.0\n'
    printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b%s"\n' "$RUN_ID"
    printf '\n--b%s\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n' "$RUN_ID"
    printf '\n--b%s\nContent-Type: application/octet-stream\n\n' "$RUN_ID"
    cat "$WORK/inner.asc"
    printf '\n--b%s--\n' "$RUN_ID"
} >"$WORK/passthrough.eml"
deliver plain "$WORK/passthrough.eml"

[ "$(find "$SINK_DIR" -name '*.eml' | wc -l)" = 5 ] || fail "the sink holds $(find "$SINK_DIR" -name '*.eml' | wc -l) messages, not 5"
grep -q 'already encrypted' "$WORK/cryptforward.log" || fail "the encrypted message was not passed through: $(cat "$WORK/cryptforward.log")"
if grep -l "secret body" "$SINK_DIR"/*.eml >/dev/null 2>&1 || grep -l "backup-protected" "$SINK_DIR"/*.eml >/dev/null 2>&1; then
    fail "a body or the protected Subject reached the relay in plaintext"
fi
grep -q 'protected-headers' "$SINK_DIR"/*.eml && fail "protected-headers outside the encryption"

# The sink's files (CRLF, as on the wire) as an mbox, the way a local delivery agent stores them.
python3 - "$SINK_DIR" "$MBOX" <<'EOF'
import json, os, re, sys, time
sink, out = sys.argv[1], sys.argv[2]
stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime()).encode()
with open(out, "wb") as mbox:
    for name in sorted(f for f in os.listdir(sink) if f.endswith(".eml")):
        with open(os.path.join(sink, name), "rb") as f:
            data = f.read().replace(b"\r\n", b"\n")
        with open(os.path.join(sink, name[:-4] + ".json")) as f:
            sender = json.load(f)["mail_from"].strip("<>") or "MAILER-DAEMON"
        mbox.write(b"From " + sender.encode() + b" " + stamp + b"\n")
        mbox.write(re.sub(rb"(?m)^(>*From )", rb">\1", data).rstrip(b"\n") + b"\n\n")
EOF
log "5 forwards in $MBOX"

# ---------------------------------------------------------------------------------------------
step "NeoMutt opens the mailbox"
cat >"$WORK/muttrc" <<EOF
set folder = "$WORK"
set read_only = yes
set sort = mailbox-order
set header_cache = ""
set crypt_use_gpgme = yes
set crypt_protected_headers_read = yes
set pgp_auto_decode = yes
set charset = utf-8
set index_format = "%4C %-16.16F %s"
set status_on_top = no
set help = yes
set beep = no
set wait_key = no
set mark_old = no
set quit = yes
set pager_index_lines = 0
EOF
SESSION=
# start_neomutt SESSION MAILBOX MUTTRC: NeoMutt on a fixed 120x40 screen, showing the index
start_neomutt() {
    SESSION=$1
    INDEX_MARK="NeoMutt: =$(basename "$2")"
    tmux_ -f /dev/null new-session -d -s "$SESSION" -x 120 -y 40 \
        env -i PATH="$PATH" HOME="$WORK" GNUPGHOME="$GNUPG_HOME" TERM=screen LANG=C.UTF-8 \
        neomutt -n -F "$3" -f "$2"
    wait_screen "the index" "$INDEX_MARK"
}
quit_neomutt() {
    local end=$(($(date +%s) + 20))
    tmux_ send-keys -t "$SESSION" q
    while tmux_ has-session -t "$SESSION" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || fail "NeoMutt did not quit within 20 s"
        sleep 0.1
    done
}
pane() { tmux_ capture-pane -p -J -t "$SESSION"; }
# no_error: the screen shows none of NeoMutt's error and warning texts
no_error() {
    local shot bad
    shot=$(pane)
    for bad in 'Error' 'error:' 'Could not' 'could not decrypt' 'Decryption failed' 'WARNING' 'Warning:'; do
        if printf '%s\n' "$shot" | grep -qF -- "$bad"; then
            fail "the screen shows '$bad'"
        fi
    done
}
# wait_screen WHAT TEXT: until the screen shows TEXT (a bounded poll), failing at once on an error
wait_screen() {
    local end=$(($(date +%s) + 20))
    until pane | grep -qF -- "$2"; do
        no_error
        [ "$(date +%s)" -lt "$end" ] || fail "the screen does not show $1 ('$2') after 20 s"
        sleep 0.1
    done
    no_error
}
# index_line N: the index line of message N
index_line() { pane | grep -E "^ +$1 " | head -n 1; }

start_neomutt nm "$MBOX" "$WORK/muttrc"
wait_screen "the fifth message in the index" "already encrypted $RUN_ID"
index_line 1 | grep -qF "backup-plain $RUN_ID" || fail "index line 1: $(index_line 1)"
index_line 2 | grep -qF "[...]" || fail "index line 2 before opening: $(index_line 2)"
index_line 3 | grep -qF "backup-inline $RUN_ID" || fail "index line 3: $(index_line 3)"
index_line 4 | grep -qF "cryptforward: a message could not be encrypted" || fail "index line 4: $(index_line 4)"
log "index: 5 messages, the protected one as [...]"

# open N: jump to message N and display it
open() {
    tmux_ send-keys -t "$SESSION" "$1" Enter Enter
}
back() {
    tmux_ send-keys -t "$SESSION" i
    wait_screen "the index again" "$INDEX_MARK"
}

step "each forward, decrypted on screen"
open 1
wait_screen "the plain forward's body" "secret body plain-$RUN_ID"
wait_screen "the decryption report" "PGP message successfully decrypted"
wait_screen "the 8-bit text of the body" "Sicherung fehlgeschlagen — ältere Kopie bleibt"
back
log "plain PGP/MIME: body decrypted"

open 2
wait_screen "the protected forward's body" "secret body protected-$RUN_ID"
wait_screen "the protected Subject in the pager" "Subject: Cron <root@host> backup-protected $RUN_ID"
back
wait_screen "the protected Subject in the index" "backup-protected $RUN_ID"
index_line 2 | grep -qF "backup-protected $RUN_ID" || fail "index line 2 after opening: $(index_line 2)"
log "protected Subject: [...] in the index until opened, then the real Subject"

open 3
wait_screen "the inline forward's body" "secret body inline-$RUN_ID"
wait_screen "the inline armor decoded" "[-- BEGIN PGP MESSAGE --]"
wait_screen "the 8-bit text of the inline body" "Sicherung fehlgeschlagen — ältere Kopie bleibt"
back
log "inline: body decrypted (pgp_auto_decode)"

open 4
wait_screen "the notice" "kept a message for you locally but did not forward it"
wait_screen "the notice's Message-ID" "<notice-$RUN_ID@host.example>"
pane | grep -qF "secret body" && fail "the notice shows the body"
back
log "notice: readable, without content"

open 5
wait_screen "the passed-through message's body" "secret body passthrough-$RUN_ID"
wait_screen "the decryption report" "PGP message successfully decrypted"
back
log "pass-through: decrypted as the sender encrypted it"

index_line 2 | grep -qF "backup-protected $RUN_ID" || fail "index line 2 at the end: $(index_line 2)"
quit_neomutt

# ---------------------------------------------------------------------------------------------
step "NeoMutt's header cache keeps a protected Subject for the next session (Maildir)"
# the protected forward (the one whose Subject is [...] outside) alone in a Maildir
protected=$(grep -l '^Subject: \[\.\.\.\]' "$SINK_DIR"/*.eml)
[ "$(printf '%s\n' "$protected" | wc -l)" = 1 ] || fail "not one forward with [...] outside: $protected"
mkdir -p "$WORK/Maildir-forwards/cur" "$WORK/Maildir-forwards/new" "$WORK/Maildir-forwards/tmp"
tr -d '\r' <"$protected" >"$WORK/Maildir-forwards/new/1700000000.1.e2e"
{
    printf 'source "%s"\n' "$WORK/muttrc"
    printf 'set read_only = no\n'
    printf 'set header_cache = "%s/hcache/"\n' "$WORK"
} >"$WORK/muttrc-hcache"
start_neomutt hc1 "$WORK/Maildir-forwards" "$WORK/muttrc-hcache"
index_line 1 | grep -qF "[...]" || fail "index line 1 before opening: $(index_line 1)"
open 1
wait_screen "the protected forward's body" "secret body protected-$RUN_ID"
back
index_line 1 | grep -qF "backup-protected $RUN_ID" || fail "index line 1 after opening: $(index_line 1)"
quit_neomutt
start_neomutt hc2 "$WORK/Maildir-forwards" "$WORK/muttrc-hcache"
index_line 1 | grep -qF "backup-protected $RUN_ID" || fail "index line 1 in a new session: $(index_line 1)"
quit_neomutt
if grep -rqF "backup-protected" "$WORK/Maildir-forwards"; then
    fail "the protected Subject was written into the Maildir"
fi
log "a new session shows the real Subject without opening the message; the Maildir still says [...]"

finish_stage

