#!/usr/bin/env bash
# Part of bench/run.sh (--burst): 200 small mails through a real Postfix, to a pipe that runs
# `cryptforward deliver`, and 200 to a pipe that runs the procmail recipe; both relay to the
# benchmark's SMTP sink. Measures the wall time from the first submission until the sink has all
# 200, and the CPU time the whole machine spent meanwhile (Postfix included, the same for both).
#
# Needs root, a running Postfix and `install.sh --postfix` done. It adds, for the run only, the
# alias `cfbench` to cryptforward's alias table (with a configuration of its own under
# /var/lib/cryptforward/bench) and a system user `cfrecipe` whose .forward runs the recipe;
# both are removed at the end. With BURST_SERVICE=yes (bench/run.sh --service) the 200 mails go
# to cryptforward a second time, with the resident service running for that configuration (as the
# cryptforward user, started here, as a supervisor would).
#
# Usage: bench/burst.sh WORKDIR SINK_PORT      (called by bench/run.sh)
set -euo pipefail
work=$1
port=$2
count=${BURST:-200}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "burst: run as root" >&2; exit 77; }
command -v postconf >/dev/null && postfix status >/dev/null 2>&1 || { echo "burst: Postfix is not running" >&2; exit 69; }
table=/etc/cryptforward/aliases
[ -f "$table" ] || { echo "burst: $table missing: run install.sh --postfix first" >&2; exit 69; }

key="$root/examples/demo/keyring/C96C11924084AD341DD5D84653E6A2DFAB6C004D.asc"
bench=/var/lib/cryptforward/bench
recipe_home=/var/lib/cfrecipe

svc_pid=
cleanup() {
    if [ -n "$svc_pid" ]; then
        kill -TERM "$svc_pid" 2>/dev/null || true
        wait "$svc_pid" 2>/dev/null || true
    fi
    sed -i '/^cfbench:/d' "$table" 2>/dev/null && postalias "$table" 2>/dev/null || true
    userdel cfrecipe 2>/dev/null || true
    rm -rf "$bench" "$recipe_home"
}
trap cleanup EXIT

# cryptforward's side: an alias in its table, run as the cryptforward user
mkdir -p "$bench/keyring" "$bench/state"
cp "$key" "$bench/keyring/"
cat > "$bench/cryptforward.toml" <<EOF
keyring = "$bench/keyring"
state_dir = "$bench/state"
log_file = "$bench/log"
[local]
mailbox = "$bench/Maildir/"
[relay]
host = "127.0.0.1"
port = $port
[[rule]]
name = "bench"
recipient = ["cfbench", "cfbench@*"]
forward_to = ["admin@example.org"]
keys = ["demo@example.org"]
EOF
chown -R cryptforward: "$bench"
printf 'cfbench: "|/usr/local/bin/cryptforward deliver --config %s/cryptforward.toml"\n' "$bench" >> "$table"
postalias "$table"
chown cryptforward: "$table" "$table.db"

# the recipe's side: a user whose .forward runs procmail
id cfrecipe >/dev/null 2>&1 || useradd --system --home-dir "$recipe_home" --shell /usr/sbin/nologin cfrecipe
mkdir -p "$recipe_home"
install -d -m 700 -o cfrecipe "$recipe_home/.gnupg" "$recipe_home/Mail"
GNUPGHOME=$recipe_home/.gnupg gpg --batch --quiet --import "$key" 2>/dev/null
printf 'set sendmail=/usr/bin/msmtp\n' > "$recipe_home/.mailrc"
printf 'account default\nhost 127.0.0.1\nport %s\nauth off\ntls off\nfrom root@bench.example\n' "$port" > "$recipe_home/.msmtprc"
cat > "$recipe_home/.procmailrc" <<EOF
SHELL=/bin/sh
HOME=$recipe_home
GNUPGHOME=$recipe_home/.gnupg
MAILDIR=$recipe_home/Mail
DEFAULT=$recipe_home/Mail/mbox
FROM=\`formail -xFrom:\`
SUBJECT=\`formail -xSubject:\`
:0 wc
* ^To:.*cfrecipe.*
| formail -I "" | gpg --batch --quiet --trust-model always -ear demo@example.org | mail -r "\$FROM" -s "\$SUBJECT" admin@example.org
EOF
printf '"|/usr/bin/procmail -m %s/.procmailrc"\n' "$recipe_home" > "$recipe_home/.forward"
chown -R cfrecipe: "$recipe_home"
chmod 600 "$recipe_home/.msmtprc"
chmod 644 "$recipe_home/.forward"

busy_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat; }
# the sink rewrites its count file: read until a number comes back
sink_count() { local c=; while [ -z "$c" ]; do c=$(cat "$work/count" 2>/dev/null); done; echo "$c"; }
hz=$(getconf CLK_TCK)

run_burst() { # $1 recipient; prints "wall cpu"
    local to=$1 before start cpu0 i nonce=$RANDOM$RANDOM
    before=$(sink_count)
    start=$(date +%s.%N)
    cpu0=$(busy_jiffies)
    for i in $(seq "$count"); do
        printf 'From: root@bench.example (Cron Daemon)\nTo: %s@localhost\nSubject: Cron <root@bench> job %s\nMessage-ID: <burst-%s-%s-%s@bench.example>\n\nline one of job %s\nline two\n' \
            "$to" "$i" "$to" "$i" "$$.$nonce" "$i" | /usr/sbin/sendmail -i "$to@localhost"
    done
    while [ "$(sink_count)" -lt $((before + count)) ]; do
        sleep 0.2
        if [ "$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN{print (n-s > 1800)}')" = 1 ]; then
            echo "burst: $to: only $(( $(sink_count) - before )) of $count arrived in 30 minutes" >&2; exit 70
        fi
    done
    local end cpu1
    end=$(date +%s.%N)
    cpu1=$(busy_jiffies)
    # the last deliveries are still journalling after their 250: let the queue empty before going on
    for i in $(seq 300); do
        postqueue -p 2>/dev/null | grep -q 'Mail queue is empty' && break
        sleep 0.2
    done
    awk -v s="$start" -v e="$end" -v c0="$cpu0" -v c1="$cpu1" -v hz="$hz" 'BEGIN{printf "%.1f %.1f", e-s, (c1-c0)/hz}'
}

postqueue -f >/dev/null 2>&1 || true
read -r rw rc <<<"$(run_burst cfrecipe)"
read -r cw cc <<<"$(run_burst cfbench)"
printf '\nburst of %d mails through Postfix: recipe %s s wall, %s s CPU; cryptforward %s s wall, %s s CPU; ratio wall %.2f, CPU %.2f\n' \
    "$count" "$rw" "$rc" "$cw" "$cc" "$(awk -v a="$cw" -v b="$rw" 'BEGIN{print a/b}')" "$(awk -v a="$cc" -v b="$rc" 'BEGIN{print a/b}')"

if [ "${BURST_SERVICE:-no}" = yes ]; then
    # the resident service for the bench configuration, as the cryptforward user
    printf '\n[service]\nsocket = "%s/run/deliver.sock"\n' "$bench" >> "$bench/cryptforward.toml"
    install -d -o cryptforward -g cryptforward -m 0755 "$bench/run"
    setpriv --reuid=cryptforward --regid=cryptforward --init-groups -- /usr/local/bin/cryptforward serve --verbose \
        --config "$bench/cryptforward.toml" >"$work/burst-serve.log" 2>&1 </dev/null &
    svc_pid=$!
    for _ in $(seq 300); do grep -q "cryptforward serve: serving" "$work/burst-serve.log" && break; sleep 0.1; done
    grep -q "cryptforward serve: serving" "$work/burst-serve.log" || { echo "burst: the service did not start: $(cat "$work/burst-serve.log")" >&2; exit 70; }
    read -r sw sc <<<"$(run_burst cfbench)"
    served=$(grep -c "request ended with 0" "$work/burst-serve.log" || true)
    [ "$served" -ge "$count" ] || { echo "burst: only $served of $count went through the service" >&2; exit 70; }
    printf 'burst of %d mails through Postfix, with the service: cryptforward %s s wall, %s s CPU; ratio to the recipe: wall %.2f, CPU %.2f\n' \
        "$count" "$sw" "$sc" "$(awk -v a="$sw" -v b="$rw" 'BEGIN{print a/b}')" "$(awk -v a="$sc" -v b="$rc" 'BEGIN{print a/b}')"
fi
