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
# --service: also (c) `cryptforward deliver` as the thin client of the resident service
# (`cryptforward serve`, started here for the benchmark's configuration; its first delivery is
# reported on its own, then --warmup N (100) cron mails make it a service that has been running
# a while, its compiler done with the delivery code, before anything is measured): every
# message again, with CPU time of client and service together, the client's peak RSS and the idle
# service's RSS; the 100 MB throughput through it; and, with --burst, the burst through it too.
# The in-process rows are "with the service stopped".
#
# Usage: bench/run.sh [--runs N] [--huge] [--burst] [--service [--warmup N]] [--sendmail-only] [--launcher PATH]
# Needs: procmail (with formail), gnupg, bsd-mailx, msmtp, python3, GNU time. As root for --burst.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=5
huge=no
burst=no
sendmail_only=no
service=no
warmup=100
launcher=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --huge) huge=yes ;;
        --burst) burst=yes ;;
        --sendmail-only) sendmail_only=yes ;;
        --service) service=yes ;;
        --warmup) warmup=$2; shift ;;
        --launcher) launcher=$2; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
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
svc_pid=
cleanup() {
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    if [ -n "$svc_pid" ]; then
        kill -TERM "$svc_pid" 2>/dev/null || true
        wait "$svc_pid" 2>/dev/null || true
    fi
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

# (c) the same through the resident service: its own configuration file (the same, plus its socket)
if [ "$service" = yes ]; then
    { cat "$work/cf/cryptforward.toml"; printf '\n[service]\nsocket = "%s"\n' "$work/cf/run/deliver.sock"; } >"$work/cf/service.toml"
    grep -q '^\[service\]' "$work/cf/service.toml" || { echo "bench: no [service] in service.toml" >&2; exit 70; }
    sed "s|$work/cf/cryptforward.toml|$work/cf/service.toml|" "$work/cryptforward.sh" >"$work/cryptforward-service.sh"
    chmod +x "$work/cryptforward-service.sh"
    "$launcher" serve --config "$work/cf/service.toml" >"$work/serve.log" 2>&1 &
    svc_pid=$!
    for _ in $(seq 300); do grep -q "cryptforward serve: serving" "$work/serve.log" && break; sleep 0.1; done
    grep -q "cryptforward serve: serving" "$work/serve.log" || { echo "bench: the service did not start: $(cat "$work/serve.log")" >&2; exit 70; }
    echo "bench: service running (pid $svc_pid): $(head -n 1 "$work/serve.log")"
fi
hz=$(getconf CLK_TCK)
# the service's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat)
svc_ticks() { [ -n "$svc_pid" ] && awk '{print $14 + $15}' "/proc/$svc_pid/stat" || echo 0; }

# one measurement: "wall cpu rss" of a command, checking that the sink got one more message
# (for the service's script: CPU time of client and service together)
measure() {
    local before after t0 t1
    before=$(sink_count)
    t0=$(svc_ticks)
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
        echo "bench: command failed: $*" >&2; cat "$work/err" >&2; exit 70; }
    after=$(sink_count)
    t1=$(svc_ticks)
    [ "$after" -eq $((before + 1)) ] || { echo "bench: the sink did not get the message ($*)" >&2; exit 70; }
    case $1 in *-service.sh) ;; *) t1=$t0 ;; esac
    awk -v s=$((t1 - t0)) -v hz="$hz" '{printf "%.3f %.3f %d\n", $1, $2 + $3 + s / hz, $4}' "$work/time"
}

stats() { # "median min max" of column $1 of file $2
    cut -d' ' -f"$1" "$2" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s", m, a[1], a[NR]}'
}

# the resident service: its first delivery, then the warm-up (not measured), then the floor of
# any thin client in Java on this machine: bench/Floor.java (connect, stream the 2 KB mail, read
# the reply), with its own class-data-sharing archive, Serial GC and the quick compiler, as the
# launcher starts the client
floor_case() {
    local javac java n=$runs
    javac=$(command -v javac 2>/dev/null) || { echo "bench: no javac: the client floor is not measured"; return; }
    java=$(dirname "$(readlink -f "$javac")")/java
    mkdir -p "$work/floor/classes"
    "$javac" -d "$work/floor/classes" "$here/Floor.java"
    # a jar: class-data sharing archives classes from jars, not from directories
    "$(dirname "$(readlink -f "$javac")")/jar" cf "$work/floor/floor.jar" -C "$work/floor/classes" .
    local flags="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xss1m -Xms16m -Xmx96m"
    # shellcheck disable=SC2086
    "$java" $flags -XX:DumpLoadedClassList="$work/floor/classes.lst" -cp "$work/floor/floor.jar" Floor "$work/cf/run/deliver.sock" "$work/msg/cron-2k.eml"
    # shellcheck disable=SC2086
    "$java" $flags -Xshare:dump -XX:SharedClassListFile="$work/floor/classes.lst" -XX:SharedArchiveFile="$work/floor/floor.jsa" \
        -cp "$work/floor/floor.jar" >/dev/null 2>&1 || { echo "bench: cannot make the floor's archive"; return; }
    : >"$work/floor.txt"
    for _ in $(seq $((n * 2))); do
        # shellcheck disable=SC2086
        /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$java" $flags -XX:SharedArchiveFile="$work/floor/floor.jsa" -Xshare:auto \
            -cp "$work/floor/floor.jar" Floor "$work/cf/run/deliver.sock" "$work/msg/cron-2k.eml"
        awk '{printf "%.3f %.3f %d\n", $1, $2 + $3, $4}' "$work/time" >>"$work/floor.txt"
    done
    read -r fw fw1 fw2 <<<"$(stats 1 "$work/floor.txt")"
    read -r fc fc1 fc2 <<<"$(stats 2 "$work/floor.txt")"
    floor_cpu=$fc
    floor_wall=$fw
    echo "bench: client floor (Floor.java, n=$((n * 2))): wall $fw ($fw1-$fw2) s, cpu $fc ($fc1-$fc2) s, peak RSS $(cut -d' ' -f3 "$work/floor.txt" | sort -n | tail -1) KB"
}
floor_cpu=
floor_wall=
if [ "$service" = yes ]; then
    read -r fw fc fr <<<"$(measure "$work/cryptforward-service.sh" "$work/msg/cron-2k.eml")"
    echo "bench: the service's first delivery (cron-2k): wall $fw s, cpu $fc s (client and service), client peak RSS $fr KB"
    echo "bench: warming the service up with $warmup cron mails"
    for _ in $(seq "$warmup"); do
        "$work/cryptforward-service.sh" "$work/msg/cron-2k.eml" >/dev/null 2>"$work/err" || {
            echo "bench: a warm-up delivery failed: $(cat "$work/err")" >&2; exit 70; }
    done
    floor_case
fi

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
ways="cryptforward"
[ "$service" = yes ] && ways="cryptforward cryptforward-service"
for m in cron-2k logwatch-200k attachment-10m attachment-100m $([ "$huge" = yes ] && echo attachment-1g); do
    file=$work/msg/$m.eml
    n=$runs
    case $m in attachment-100m) n=$(( runs < 3 ? runs : 3 )) ;; attachment-1g) n=1 ;; esac
    : > "$work/r.txt"
    measure "$work/recipe.sh" "$file" >/dev/null   # warm the page cache and gpg
    for way in $ways; do
        : > "$work/c-$way.txt"
        measure "$work/$way.sh" "$file" >/dev/null
    done
    for _ in $(seq "$n"); do
        measure "$work/recipe.sh" "$file" >> "$work/r.txt"
        for way in $ways; do
            measure "$work/$way.sh" "$file" >> "$work/c-$way.txt"
        done
    done
    read -r rw rw1 rw2 <<<"$(stats 1 "$work/r.txt")"
    read -r ru ru1 ru2 <<<"$(stats 2 "$work/r.txt")"
    rr=$(cut -d' ' -f3 "$work/r.txt" | sort -n | tail -1)
    for way in $ways; do
        read -r cw cw1 cw2 <<<"$(stats 1 "$work/c-$way.txt")"
        read -r cu cu1 cu2 <<<"$(stats 2 "$work/c-$way.txt")"
        cr=$(cut -d' ' -f3 "$work/c-$way.txt" | sort -n | tail -1)
        label="$m (n=$n)"
        [ "$way" = cryptforward ] || label="$m via service"
        if [ "$m" = cron-2k ] && [ "$way" = cryptforward-service ]; then
            cron_service_wall=$cw
            cron_service_cpu=$cu
        fi
        printf '%-22s %-28s %-28s %-7s %-22s %-22s %-7s %s\n' "$label" \
            "$rw ($rw1-$rw2)" "$cw ($cw1-$cw2)" "$(awk -v a="$cw" -v b="$rw" 'BEGIN{printf "%.2f", a/b}')" \
            "$ru ($ru1-$ru2)" "$cu ($cu1-$cu2)" "$(awk -v a="$cu" -v b="$ru" 'BEGIN{printf "%.2f", a/b}')" "$rr / $cr"
    done
done
if [ "$service" = yes ]; then
    echo "(via service: cpu is client and service together; peak RSS is the client's)"
    if [ -n "$floor_cpu" ] && [ -s "$work/c-cryptforward-service.txt" ]; then
        echo "(cron-2k via service against the client floor: wall $(awk -v a="$cron_service_wall" -v b="$floor_wall" 'BEGIN{printf "%.2f", a/b}')x, cpu $(awk -v a="$cron_service_cpu" -v b="$floor_cpu" 'BEGIN{printf "%+.3f s", a-b}') over it)"
    fi
fi

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

if [ "$service" = yes ]; then
    read -r sw _ <<<"$(measure "$work/cryptforward-service.sh" "$file")"
    printf 'throughput on %s MB through the service: %.1f MB/s, ratio to gpg -e %.2f\n' \
        "$mb" "$(awk -v m="$mb" -v t="$sw" 'BEGIN{print m/t}')" "$(awk -v a="$gw" -v b="$sw" 'BEGIN{print a/b}')"
    sleep 5
    printf 'idle service RSS: %s KB (after the runs, 5 s idle)\n' "$(awk '/^VmRSS/ {print $2}' "/proc/$svc_pid/status")"
fi

if [ "$burst" = yes ]; then
    BURST_SERVICE=$service "$here/burst.sh" "$work" "$port"
fi
