#!/usr/bin/env bash
# cryptforward benchmark: whole processes, in one run, on one machine, against the classic recipe.
#
#   (a) the recipe as admins run it: procmail with
#         :0 wc
#         * ^To:.*root.*
#         | formail -I "" | gpg --trust-model always -ear KEY | mail -r "$FROM" -s "$SUBJECT" admin@...
#       (`:0 wc`: with plain `:0 c`, procmail forks the pipe and does not wait for it), with
#       `mail` (bsd-mailx) handing the message to msmtp, which relays it synchronously;
#   (b) `cryptforward deliver` with the installed launcher (and its class-data-sharing archive);
#
# both to the same loopback SMTP sink, for a 2 KB cron mail, a 200 KB logwatch report, and 10 MB
# and 100 MB attachments; then throughput against `gpg -e` on the same 100 MB file, peak memory on
# a 1 GB message (--huge), and a burst of 200 small mails through a real Postfix alias pipe
# (--burst; needs `install.sh --postfix` done on this machine). Prints wall time, CPU time and peak
# RSS (median, with min-max over the runs) and the ratio cryptforward / recipe.
#
# On a host without an MTA: cron's mail (the 2 KB message, with cron's command line
# `sendmail -FCronDaemon -i -B8BITMIME -oem root`) through `cryptforward sendmail` (local copy,
# encrypted into the queue, sent) against msmtp's sendmail mode (`msmtp -t`: plaintext, no queue),
# to the same sink, in the same run. --sendmail-only runs just that comparison.
#
# Usage: bench/run.sh [--runs N] [--huge] [--burst] [--sendmail-only] [--launcher PATH]
# Needs: procmail (with formail), gnupg, bsd-mailx, msmtp, python3, GNU time. As root for --burst.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=5
huge=no
burst=no
sendmail_only=no
launcher=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --huge) huge=yes ;;
        --burst) burst=yes ;;
        --sendmail-only) sendmail_only=yes ;;
        --launcher) launcher=$2; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "bench: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

tools="procmail formail gpg bsd-mailx msmtp python3 /usr/bin/time"
[ "$sendmail_only" = no ] || tools="gpg msmtp python3 /usr/bin/time"
for tool in $tools; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is missing (apt-get install procmail gnupg bsd-mailx msmtp time)" >&2; exit 69; }
done
if [ -z "$launcher" ]; then
    if [ -x /usr/local/bin/cryptforward ]; then
        launcher=/usr/local/bin/cryptforward
    else
        launcher=$root/target/dist/bin/cryptforward
        echo "bench: cryptforward is not installed; using $launcher (no class-data-sharing archive: run ./install.sh first for real figures)"
    fi
fi
jsa="$(dirname "$(readlink -f "$launcher")")/../lib/cryptforward/cryptforward.jsa"
[ -r "$jsa" ] && echo "bench: launcher $launcher with archive $jsa" || echo "bench: launcher $launcher (no CDS archive found)"

work=$(mktemp -d /var/tmp/cf-bench.XXXXXX)
chmod 755 "$work"
sink_pid=
cleanup() {
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$here/smtp_sink.py" "$port" "$work/count" &
sink_pid=$!
for _ in $(seq 50); do [ -s "$work/count" ] && break; sleep 0.1; done
# the sink rewrites its count file: read until a number comes back
sink_count() { local c=; while [ -z "$c" ]; do c=$(cat "$work/count" 2>/dev/null); done; echo "$c"; }

echo "bench: writing messages"
python3 "$here/make_messages.py" "$work/msg" $([ "$huge" = yes ] && echo --huge)

# The demo key: the recipe encrypts with gpg to it, cryptforward to the same key.
key="$root/examples/demo/keyring/C96C11924084AD341DD5D84653E6A2DFAB6C004D.asc"
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$key" 2>/dev/null

# (a) the recipe's world: a HOME with .mailrc (mail -> msmtp) and .msmtprc (-> the sink)
home=$work/home
mkdir -p "$home"
printf 'set sendmail=/usr/bin/msmtp\n' > "$home/.mailrc"
printf 'account default\nhost 127.0.0.1\nport %s\nauth off\ntls off\nfrom root@bench.example\n' "$port" > "$home/.msmtprc"
chmod 600 "$home/.msmtprc"
cat > "$work/procmailrc" <<EOF
SHELL=/bin/sh
HOME=$home
GNUPGHOME=$GNUPGHOME
MAILDIR=$work/recipe
DEFAULT=$work/recipe/mbox
LOGFILE=$work/recipe/procmail.log
FROM=\`formail -xFrom:\`
SUBJECT=\`formail -xSubject:\`
:0 wc
* ^To:.*root.*
| formail -I "" | gpg --batch --quiet --trust-model always -ear demo@example.org | mail -r "\$FROM" -s "\$SUBJECT" admin@example.org
EOF
mkdir -p "$work/recipe"
cat > "$work/recipe.sh" <<EOF
#!/bin/sh
exec procmail -m $work/procmailrc < "\$1"
EOF

# (b) cryptforward's world
mkdir -p "$work/cf/keyring" "$work/cf/state"
cp "$key" "$work/cf/keyring/"
cat > "$work/cf/cryptforward.toml" <<EOF
keyring = "$work/cf/keyring"
state_dir = "$work/cf/state"
log_file = "$work/cf/log"
deadline_seconds = 900
[local]
mailbox = "$work/cf/Maildir/"
[relay]
host = "127.0.0.1"
port = $port
timeout_seconds = 300
[[rule]]
name = "root"
recipient = ["root", "root@*"]
forward_to = ["admin@example.org"]
keys = ["demo@example.org"]
EOF
# A new Message-ID each run: the same message twice would be (rightly) taken for a retry.
cat > "$work/cryptforward.sh" <<EOF
#!/bin/sh
sed "1,20s/^Message-Id: <\\([^@]*\\)@/Message-Id: <\\1.\$\$.\$(date +%s%N)@/" "\$1" | $launcher deliver --config $work/cf/cryptforward.toml --recipient root
EOF
chmod +x "$work/recipe.sh" "$work/cryptforward.sh"

# one measurement: "wall cpu rss" of a command, checking that the sink got one more message
measure() {
    local before after
    before=$(sink_count)
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
        echo "bench: command failed: $*" >&2; cat "$work/err" >&2; exit 70; }
    after=$(sink_count)
    [ "$after" -eq $((before + 1)) ] || { echo "bench: the sink did not get the message ($*)" >&2; exit 70; }
    awk '{printf "%.3f %.3f %d\n", $1, $2 + $3, $4}' "$work/time"
}

stats() { # "median min max" of column $1 of file $2
    cut -d' ' -f"$1" "$2" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s", m, a[1], a[NR]}'
}

# cron mail on a host without an MTA: cryptforward sendmail against msmtp -t, same message, same sink
sendmail_case() {
    local file=$work/msg/cron-2k.eml n=$runs
    cat > "$work/msmtp-sendmail.sh" <<EOF
#!/bin/sh
exec msmtp -C $home/.msmtprc -t -i < "\$1"
EOF
    cat > "$work/cf-sendmail.sh" <<EOF
#!/bin/sh
exec $launcher sendmail --config $work/cf/cryptforward.toml -FCronDaemon -i -B8BITMIME -oem root < "\$1"
EOF
    chmod +x "$work/msmtp-sendmail.sh" "$work/cf-sendmail.sh"
    : > "$work/ms.txt"; : > "$work/cs.txt"
    measure "$work/msmtp-sendmail.sh" "$file" >/dev/null
    measure "$work/cf-sendmail.sh" "$file" >/dev/null
    for _ in $(seq "$n"); do
        measure "$work/msmtp-sendmail.sh" "$file" >> "$work/ms.txt"
        measure "$work/cf-sendmail.sh" "$file" >> "$work/cs.txt"
    done
    # every forward was accepted: nothing may be left in the queue
    if [ -n "$(ls -A "$work/cf/state/queue" 2>/dev/null | grep -v '^tmp$\|^aside$')" ]; then
        echo "bench: cryptforward sendmail left entries in its queue" >&2; exit 70
    fi
    read -r mw mw1 mw2 <<<"$(stats 1 "$work/ms.txt")"
    read -r cw cw1 cw2 <<<"$(stats 1 "$work/cs.txt")"
    read -r mu mu1 mu2 <<<"$(stats 2 "$work/ms.txt")"
    read -r cu cu1 cu2 <<<"$(stats 2 "$work/cs.txt")"
    printf '\ncron mail without an MTA (cron-2k, n=%s): wall msmtp -t %s (%s-%s) s, cryptforward sendmail %s (%s-%s) s, ratio %s;' \
        "$n" "$mw" "$mw1" "$mw2" "$cw" "$cw1" "$cw2" "$(awk -v a="$cw" -v b="$mw" 'BEGIN{printf "%.2f", a/b}')"
    printf ' cpu %s / %s s, ratio %s; peak RSS %s / %s KB\n' "$mu" "$cu" "$(awk -v a="$cu" -v b="$mu" 'BEGIN{printf "%.2f", (b > 0 ? a/b : 0)}')" \
        "$(cut -d' ' -f3 "$work/ms.txt" | sort -n | tail -1)" "$(cut -d' ' -f3 "$work/cs.txt" | sort -n | tail -1)"
}
if [ "$sendmail_only" = yes ]; then
    sendmail_case
    exit 0
fi

printf '\n%-22s %-28s %-28s %-7s %-22s %-22s %-7s %s\n' message "wall recipe s" "wall cryptforward s" ratio "cpu recipe s" "cpu cryptforward s" ratio "peak RSS recipe/cf KB"
for m in cron-2k logwatch-200k attachment-10m attachment-100m $([ "$huge" = yes ] && echo attachment-1g); do
    file=$work/msg/$m.eml
    n=$runs
    case $m in attachment-100m) n=$(( runs < 3 ? runs : 3 )) ;; attachment-1g) n=1 ;; esac
    : > "$work/r.txt"; : > "$work/c.txt"
    measure "$work/recipe.sh" "$file" >/dev/null   # warm the page cache and gpg
    measure "$work/cryptforward.sh" "$file" >/dev/null
    for _ in $(seq "$n"); do
        measure "$work/recipe.sh" "$file" >> "$work/r.txt"
        measure "$work/cryptforward.sh" "$file" >> "$work/c.txt"
    done
    read -r rw rw1 rw2 <<<"$(stats 1 "$work/r.txt")"
    read -r cw cw1 cw2 <<<"$(stats 1 "$work/c.txt")"
    read -r ru ru1 ru2 <<<"$(stats 2 "$work/r.txt")"
    read -r cu cu1 cu2 <<<"$(stats 2 "$work/c.txt")"
    rr=$(cut -d' ' -f3 "$work/r.txt" | sort -n | tail -1)
    cr=$(cut -d' ' -f3 "$work/c.txt" | sort -n | tail -1)
    printf '%-22s %-28s %-28s %-7s %-22s %-22s %-7s %s\n' "$m (n=$n)" \
        "$rw ($rw1-$rw2)" "$cw ($cw1-$cw2)" "$(awk -v a="$cw" -v b="$rw" 'BEGIN{printf "%.2f", a/b}')" \
        "$ru ($ru1-$ru2)" "$cu ($cu1-$cu2)" "$(awk -v a="$cu" -v b="$ru" 'BEGIN{printf "%.2f", a/b}')" "$rr / $cr"
done

# Throughput on the 100 MB message: cryptforward end to end vs gpg encrypting the same file.
file=$work/msg/attachment-100m.eml
mb=$(awk -v s="$(stat -c %s "$file")" 'BEGIN{printf "%.1f", s/1048576}')
/usr/bin/time -f "%e %U %S %M" -o "$work/time" gpg --batch --quiet --trust-model always -e -r demo@example.org -o /dev/null "$file"
read -r gw _ <<<"$(cat "$work/time")"
read -r cw _ <<<"$(measure "$work/cryptforward.sh" "$file")"
printf '\nthroughput on %s MB: gpg -e %.1f MB/s, cryptforward deliver (spool, local copy, encrypt, relay) %.1f MB/s, ratio %.2f\n' \
    "$mb" "$(awk -v m="$mb" -v t="$gw" 'BEGIN{print m/t}')" "$(awk -v m="$mb" -v t="$cw" 'BEGIN{print m/t}')" \
    "$(awk -v a="$gw" -v b="$cw" 'BEGIN{print a/b}')"

sendmail_case

if [ "$burst" = yes ]; then
    "$here/burst.sh" "$work" "$port"
fi
