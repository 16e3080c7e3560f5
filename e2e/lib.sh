# shellcheck shell=bash
# Shared by the end-to-end stages (e2e/postfix.sh, e2e/exim.sh): they install a real MTA and
# cryptforward on this machine, send mail the ways a server does, and check what arrives.
# They reconfigure the machine's mail system, so they run only as root and only when asked to:
# under CI (CI=true) or with CRYPTFORWARD_E2E=yes.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$E2E_DIR")
CF_USER=cryptforward
CF=/usr/local/bin/cryptforward
CONFIG=/etc/cryptforward/cryptforward.toml
MAILDIR=/var/lib/cryptforward/Maildir
FORWARD_TO=ed@example.org
KEY_PUB=$REPO/src/test/resources/keys/ed.pub.asc
KEY_SEC=$REPO/src/test/resources/keys/ed.sec.asc
CF_LOG=/var/log/cryptforward/cryptforward.log

STEP_NAME=
STEP_START=0
STAGE_START=$(date +%s)

log() { printf '%s e2e-%s: %s\n' "$(date +%T)" "$STAGE" "$*"; }
fail() {
    printf '%s e2e-%s: FAILED: %s\n' "$(date +%T)" "$STAGE" "$*" >&2
    exit 1
}

step() {
    local now
    now=$(date +%s)
    if [ -n "$STEP_NAME" ]; then
        log "   done in $((now - STEP_START)) s"
    fi
    STEP_NAME=$1
    STEP_START=$now
    log "== $1"
}

finish_stage() {
    step "end"
    log "stage passed in $(($(date +%s) - STAGE_START)) s"
}

require_permission() {
    [ "$(id -u)" = 0 ] || fail "run as root"
    if [ "${CI:-}" != true ] && [ "${CRYPTFORWARD_E2E:-}" != yes ]; then
        fail "this reconfigures the machine's mail system; run it under CI or with CRYPTFORWARD_E2E=yes"
    fi
}

APT_UPDATED=no
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = no ]; then
        apt-get update -q >/dev/null
        APT_UPDATED=yes
    fi
    apt-get install -y -q "$@" >"$WORK/apt.log" 2>&1 || {
        tail -n 20 "$WORK/apt.log" >&2
        fail "apt-get install $*"
    }
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
    local limit=$1 what=$2 end
    shift 2
    end=$(($(date +%s) + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after $limit s waiting for $what"
        sleep 0.5
    done
}

make_work_dir() {
    WORK=$(mktemp -d "/tmp/cryptforward-e2e-$STAGE.XXXXXX")
    chmod 0755 "$WORK"
    SINK_DIR=$WORK/sink
    GNUPG_HOME=$WORK/gnupg
    SINK_PID=
    SINK_PORT=
}

cleanup_work() {
    stop_service
    stop_sink
    if [ -d "${GNUPG_HOME:-}" ]; then
        gpgconf --homedir "$GNUPG_HOME" --kill all >/dev/null 2>&1 || true
    fi
    if [ -n "${WORK:-}" ] && [ "${E2E_KEEP:-}" != yes ]; then
        rm -rf "$WORK"
    fi
}

# ---- the relay: a sink on 127.0.0.1 -----------------------------------------------------------

start_sink() {
    rm -f "$WORK/sink.port"
    python3 "$E2E_DIR/smtp_sink.py" --dir "$SINK_DIR" --port-file "$WORK/sink.port" ${SINK_PORT:+--port "$SINK_PORT"} \
        >>"$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    wait_for 15 "the SMTP sink to listen" test -s "$WORK/sink.port"
    SINK_PORT=$(cat "$WORK/sink.port")
    log "SMTP sink listening on 127.0.0.1:$SINK_PORT (pid $SINK_PID)"
}

stop_sink() {
    if [ -n "${SINK_PID:-}" ]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        log "SMTP sink stopped"
        SINK_PID=
    fi
}

sink_count() {
    python3 "$E2E_DIR/verify.py" count --sink "$SINK_DIR" --token "$1"
}

local_count() {
    python3 "$E2E_DIR/verify.py" local-count --maildir "$MAILDIR" --token "$1"
}

sink_has() {
    [ "$(sink_count "$1")" -ge 1 ]
}

# verify_forward TOKEN [ORIGINAL-FILE [SECRET]]
verify_forward() {
    python3 "$E2E_DIR/verify.py" forward --sink "$SINK_DIR" --token "$1" --forward-to "$FORWARD_TO" \
        --gnupghome "$GNUPG_HOME" --maildir "$MAILDIR" --user "$CF_USER" ${2:+--original "$2"} ${3:+--secret "$3"} ||
        fail "the forward of $1 is not right"
}

# ---- cryptforward set up as the README says --------------------------------------------------

clean_previous_install() {
    if [ -e "$CF" ] || [ -e /etc/cryptforward ] || [ -e /var/lib/cryptforward ] || getent passwd "$CF_USER" >/dev/null; then
        log "removing an earlier installation: install.sh --uninstall --purge"
        "$REPO/install.sh" --uninstall --purge --yes >"$WORK/uninstall-before.log" 2>&1 || {
            cat "$WORK/uninstall-before.log" >&2
            fail "install.sh --uninstall --purge"
        }
    fi
    rm -rf /var/log/cryptforward
}

# owner:group mode of a path, as stat prints them
perms() {
    stat -c '%U:%G %a' "$1"
}

expect_perms() {
    local got
    got=$(perms "$1")
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}

check_installed_files() {
    [ -x "$CF" ] || fail "$CF not installed"
    expect_perms /usr/local/lib/cryptforward/cryptforward.jar "root:root 644"
    expect_perms /usr/local/lib/cryptforward/cryptforward.jsa "root:root 644"
    expect_perms /usr/local/share/man/man1/cryptforward.1 "root:root 644"
    expect_perms /usr/local/share/man/man5/cryptforward.toml.5 "root:root 644"
    grep -q '_complete_cryptforward' /usr/local/share/bash-completion/completions/cryptforward || fail "no bash completion installed"
    getent passwd "$CF_USER" >/dev/null || fail "no user $CF_USER"
    expect_perms /var/lib/cryptforward "$CF_USER:$CF_USER 755"
    expect_perms /var/lib/cryptforward/keyring "$CF_USER:$CF_USER 755"
    expect_perms /var/lib/cryptforward/state "$CF_USER:$CF_USER 700"
    expect_perms /var/lib/cryptforward/Maildir "$CF_USER:$CF_USER 700"
    expect_perms /etc/cryptforward "root:$CF_USER 750"
    expect_perms "$CONFIG" "root:$CF_USER 640"
    cmp -s "$REPO/examples/cryptforward.toml" "$CONFIG" || fail "$CONFIG is not examples/cryptforward.toml"
    if command -v man >/dev/null 2>&1; then
        [ "$(readlink -f "$(man -w cryptforward)")" = /usr/local/share/man/man1/cryptforward.1 ] ||
            fail "man cryptforward does not find the installed page"
        [ "$(readlink -f "$(man -w cryptforward.toml)")" = /usr/local/share/man/man5/cryptforward.toml.5 ] ||
            fail "man cryptforward.toml does not find the installed page"
    fi
    log "files, owners and modes as documented"
}

# Edits the installed example configuration as an admin would (forward address, key, relay, log
# file), imports the test key as the cryptforward user, and checks it all with check --relay.
configure_cryptforward() {
    sed -i \
        -e "s/admin@example\.org/$FORWARD_TO/g" \
        -e 's/^host = "localhost"$/host = "127.0.0.1"/' \
        -e "s/^port = 25\$/port = $SINK_PORT/" \
        -e "s|^# log_file = \"$CF_LOG\"\$|log_file = \"$CF_LOG\"|" \
        "$CONFIG"
    for line in "forward_to = [\"$FORWARD_TO\"]" "keys = [\"$FORWARD_TO\"]" 'host = "127.0.0.1"' "port = $SINK_PORT" \
        "log_file = \"$CF_LOG\""; do
        grep -qxF "$line" "$CONFIG" || fail "editing $CONFIG: no line '$line' (examples/cryptforward.toml changed?)"
    done
    install -d -o "$CF_USER" -g "$CF_USER" -m 0750 "$(dirname "$CF_LOG")"
    runuser -u "$CF_USER" -- "$CF" key import <"$KEY_PUB" >"$WORK/import.log" 2>&1 || {
        cat "$WORK/import.log" >&2
        fail "key import as $CF_USER"
    }
    grep -q "7E80AFBEA260CB359F51FDDDA75FBAFAF87E42CF" "$WORK/import.log" || fail "key import did not report the key"
    runuser -u "$CF_USER" -- "$CF" check --relay >"$WORK/check.log" 2>&1 || {
        cat "$WORK/check.log" >&2
        fail "cryptforward check --relay as $CF_USER"
    }
    grep -qx "all good" "$WORK/check.log" || fail "check did not say 'all good': $(cat "$WORK/check.log")"
    log "configured: forward to $FORWARD_TO via 127.0.0.1:$SINK_PORT; check --relay: all good"

    mkdir -m 0700 "$GNUPG_HOME"
    gpg --homedir "$GNUPG_HOME" --batch --quiet --import "$KEY_SEC" 2>"$WORK/gpg-import.log" || {
        cat "$WORK/gpg-import.log" >&2
        fail "gpg --import of the test secret key"
    }
}

# cron_message TOKEN FILE: a message shaped as Debian's cron writes one (8-bit UTF-8 body).
cron_message() {
    local token=$1 host
    host=$(hostname)
    {
        printf 'From: root (Cron Daemon)\n'
        printf 'To: root\n'
        printf 'Subject: Cron <root@%s> /usr/local/sbin/backup-db (failed) %s\n' "$host" "$token"
        printf 'MIME-Version: 1.0\n'
        printf 'Content-Type: text/plain; charset=UTF-8\n'
        printf 'Content-Transfer-Encoding: 8bit\n'
        printf 'X-Cron-Env: <SHELL=/bin/sh>\n'
        printf 'X-Cron-Env: <HOME=/root>\n'
        printf 'X-Cron-Env: <PATH=/usr/bin:/bin>\n'
        printf 'X-Cron-Env: <LOGNAME=root>\n'
        printf 'Message-ID: <%s@e2e.test>\n' "$token"
        printf '\n'
        printf 'pg_dump: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed\n'
        printf 'Sicherung fehlgeschlagen \342\200\224 gestern\303\244ltere Kopie bleibt \342\234\223\n'
        printf 'secret line %s-BODY\n' "$token"
    } >"$2"
}

# Runs the command of the cron entry in examples/cron.d/cryptforward as cron would: as the user
# it names, with /bin/sh and cron's PATH. Prints what cron would mail.
run_cron_entry() {
    local entry user command
    entry=$(grep -v -e '^#' -e '^[A-Z_]*=' -e '^[[:space:]]*$' "$REPO/examples/cron.d/cryptforward")
    user=$(printf '%s\n' "$entry" | awk '{ print $6 }')
    command=$(printf '%s\n' "$entry" | cut -d ' ' -f 7-)
    [ "$user" = "$CF_USER" ] || fail "the cron entry runs as '$user'"
    (cd / && runuser -u "$user" -- env -i PATH=/usr/bin:/bin SHELL=/bin/sh HOME=/var/lib/cryptforward LOGNAME="$user" \
        /bin/sh -c "$command") || true
}

check_cron_entry_quiet() {
    local out
    out=$(run_cron_entry)
    [ -z "$out" ] || fail "the cron entry prints (and cron would mail) while all is well: $out"
    log "cron entry: silent while all is well"
}

check_cron_entry_reports() {
    local out
    out=$(run_cron_entry)
    printf '%s\n' "$out" | grep -q "^error: .*127.0.0.1:$SINK_PORT" || fail "the cron entry did not report the relay down: $out"
    printf '%s\n' "$out" | grep -q "problem" || fail "the cron entry did not say a problem was found: $out"
    log "cron entry: reports the relay down ($(printf '%s\n' "$out" | head -n 1))"
}

check_cryptforward_log() {
    local token=$1
    grep -q "msgid=<$token@e2e.test>.*status=sent" "$CF_LOG" || fail "no status=sent line for $token in $CF_LOG"
    [ "$(stat -c %U "$CF_LOG")" = "$CF_USER" ] || fail "$CF_LOG was not written by $CF_USER"
}

lint_man_pages() {
    local out
    out=$(mandoc -T lint "$REPO/man/cryptforward.1" "$REPO/man/cryptforward.toml.5" 2>&1 |
        grep -v -e 'referenced manual not found' -e 'outdated mandoc.db' || true)
    [ -z "$out" ] || fail "mandoc -T lint: $out"
    log "mandoc -T lint: clean"
}

# ---- the resident delivery service, started without systemd (as in CI) -----------------------
# E2E_SERVICE=yes: the stage runs with `cryptforward serve` in the background as the cryptforward
# user, and checks that the deliveries went through it; otherwise deliver works in-process.

E2E_SERVICE=${E2E_SERVICE:-no}
SERVE_PID=
SERVED=0

start_service() {
    [ "$E2E_SERVICE" = yes ] || return 0
    install -d -o "$CF_USER" -g "$CF_USER" -m 0755 /run/cryptforward
    : >"$WORK/serve.log"
    # setpriv execs, and the launcher execs the JVM for serve: $! is the service itself
    setpriv --reuid="$CF_USER" --regid="$CF_USER" --init-groups -- "$CF" serve --verbose >>"$WORK/serve.log" 2>&1 </dev/null &
    SERVE_PID=$!
    wait_for 30 "the delivery service to listen" grep -q "cryptforward serve: serving" "$WORK/serve.log"
    [ "$(stat -c '%U %a' /run/cryptforward/deliver.sock)" = "$CF_USER 600" ] ||
        fail "the socket is $(stat -c '%U %a' /run/cryptforward/deliver.sock), expected $CF_USER 600"
    runuser -u "$CF_USER" -- "$CF" check >"$WORK/check-service.log" 2>&1 || true
    grep -q "^ok: the delivery service answers on /run/cryptforward/deliver.sock as user $CF_USER, running this build" \
        "$WORK/check-service.log" || fail "check does not see the service: $(grep -i service "$WORK/check-service.log")"
    SERVED=$(service_count 0)
    log "delivery service running as $CF_USER (pid $SERVE_PID); check: $(grep 'delivery service' "$WORK/check-service.log")"
}

stop_service() {
    if [ -n "${SERVE_PID:-}" ]; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
        log "delivery service stopped: $(tail -n 1 "$WORK/serve.log")"
        SERVE_PID=
    fi
}

# service_count CODE: requests the service ended with exit status CODE
service_count() {
    grep -c "^cryptforward serve: request ended with $1\( \|\$\)" "$WORK/serve.log" 2>/dev/null || true
}

# expect_served WHAT: with the service, the last delivery was its (one more ended with 0)
expect_served() {
    [ "$E2E_SERVICE" = yes ] || return 0
    local now
    now=$(service_count 0)
    [ "$now" -gt "$SERVED" ] || fail "$1 was not delivered by the service: $(tail -n 3 "$WORK/serve.log")"
    SERVED=$now
    kill -0 "$SERVE_PID" 2>/dev/null || fail "the delivery service is gone"
    log "delivered through the service ($now so far)"
}

# ---- switching MTAs ---------------------------------------------------------------------------
# Removing a package does not stop its daemon where policy-rc.d forbids it (containers): stop the
# other MTA first, or it keeps port 25 and runs from deleted binaries.

stop_postfix() {
    local pid
    pid=$(tr -d ' \n' </var/spool/postfix/pid/master.pid 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        return 0
    fi
    log "stopping Postfix (master pid $pid)"
    if command -v postfix >/dev/null 2>&1; then
        timeout 30 postfix stop >/dev/null 2>&1 || true
    fi
    kill "$pid" 2>/dev/null || true
    wait_for 60 "Postfix's master to exit" sh -c "! kill -0 $pid"
}

stop_exim() {
    if ! pidof exim4 >/dev/null 2>&1; then
        return 0
    fi
    log "stopping Exim"
    if [ -x /etc/init.d/exim4 ]; then
        timeout 30 service exim4 stop >/dev/null 2>&1 || true
    fi
    if pidof exim4 >/dev/null 2>&1; then
        # shellcheck disable=SC2046
        kill $(pidof exim4) 2>/dev/null || true
    fi
    wait_for 60 "Exim to exit" sh -c '! pidof exim4'
}
