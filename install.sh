#!/bin/sh
# install.sh - build and install cryptforward on Debian or Ubuntu, and route root's mail to it.
#
# Run as root from a checkout. Safe to run again: it changes only what is not yet as it should be,
# and never overwrites a configuration that exists. See --help.
set -eu

PREFIX=/usr/local
ACTION=install
PURGE=no
ASSUME_YES=no
WITH_POSTFIX=no
WITH_EXIM=no
WITH_SENDMAIL=no

SERVICE_USER=cryptforward
ETC_DIR=/etc/cryptforward
CONFIG=$ETC_DIR/cryptforward.toml
VAR_DIR=/var/lib/cryptforward
ALIAS_TABLE=$ETC_DIR/aliases
EXIM_MACROS=/etc/exim4/exim4.conf.localmacros
SYSTEM_ALIASES=/etc/aliases
MARK_BEGIN='# BEGIN cryptforward (install.sh)'
MARK_END='# END cryptforward (install.sh)'
MARK_DISABLED='#cryptforward-disabled# '
DEFAULT_COMMAND=/usr/local/bin/cryptforward

usage() {
    cat <<'EOF'
Usage: ./install.sh [--prefix DIR] [--postfix | --exim | --sendmail]
       ./install.sh --uninstall [--purge [--yes]] [--prefix DIR]

Builds cryptforward (installing OpenJDK 17 and Maven with apt when they are missing) and installs:
  PREFIX/bin/cryptforward                        the command
  PREFIX/lib/cryptforward/                       its jar and start-up (class-data sharing) archive
  PREFIX/share/man/man1/cryptforward.1           manual pages
  PREFIX/share/man/man5/cryptforward.toml.5
  PREFIX/share/bash-completion/completions/cryptforward
  the system user cryptforward, owner of /var/lib/cryptforward/{keyring,state,Maildir}
  /etc/systemd/system/cryptforward.{socket,service}   the resident delivery service, where
                                                 systemd runs (the socket enabled)
  /etc/cryptforward/cryptforward.toml            from examples/, only when there is none

Options:
  --prefix DIR   install under DIR instead of /usr/local
  --postfix      route root's mail to cryptforward under Postfix: the alias table
                 /etc/cryptforward/aliases, owned by cryptforward, first in alias_maps
  --exim         route root's mail to cryptforward under Debian's Exim: a root line in
                 /etc/aliases, run as cryptforward (exim4.conf.localmacros)
  --sendmail     on a host without an MTA: cryptforward becomes /usr/sbin/sendmail
                 (and /usr/lib/sendmail, mailq, newaliases), with a systemd timer or a
                 cron line that runs its queue; refused where an MTA owns those paths
  --uninstall    remove what install.sh installed and the mail routes it set up;
                 keeps configuration, keys, state and mail
  --purge        with --uninstall: also remove /etc/cryptforward, /var/lib/cryptforward
                 (keys, state and the kept mail) and the cryptforward user; asks first
  --yes          with --purge: do not ask (without a terminal, --purge needs it)
  -h, --help     show this help
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --prefix)
            [ $# -ge 2 ] || die "--prefix needs a directory"
            PREFIX=$2
            shift 2
            ;;
        --prefix=*)
            PREFIX=${1#--prefix=}
            shift
            ;;
        --uninstall) ACTION=uninstall; shift ;;
        --purge) ACTION=uninstall; PURGE=yes; shift ;;
        --yes) ASSUME_YES=yes; shift ;;
        --postfix) WITH_POSTFIX=yes; shift ;;
        --exim) WITH_EXIM=yes; shift ;;
        --sendmail) WITH_SENDMAIL=yes; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see ./install.sh --help)" ;;
    esac
done

case $PREFIX in
    /*) ;;
    *) die "--prefix must be an absolute path, not '$PREFIX'" ;;
esac
case $PREFIX in
    *[!A-Za-z0-9/._+-]*) die "--prefix may hold only letters, digits and / . _ + - (it goes into mail aliases): '$PREFIX'" ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
if [ "$WITH_POSTFIX" = yes ] && [ "$WITH_EXIM" = yes ]; then
    die "--postfix and --exim exclude each other: a Debian machine has one MTA"
fi
if [ "$WITH_SENDMAIL" = yes ] && { [ "$WITH_POSTFIX" = yes ] || [ "$WITH_EXIM" = yes ]; }; then
    die "--sendmail is for a host without an MTA; with Postfix or Exim use --postfix or --exim alone"
fi
if [ "$ACTION" = uninstall ] && { [ "$WITH_POSTFIX" = yes ] || [ "$WITH_EXIM" = yes ] || [ "$WITH_SENDMAIL" = yes ]; }; then
    die "--uninstall removes the mail routes it finds; do not combine it with --postfix, --exim or --sendmail"
fi
[ "$(id -u)" = 0 ] || die "run as root (it creates a system user and writes to $PREFIX, /etc and /var/lib)"

SRC=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
BIN=$PREFIX/bin/cryptforward
LIB=$PREFIX/lib/cryptforward
JAR=$LIB/cryptforward.jar
JSA=$LIB/cryptforward.jsa
# the thin client's own, smaller archive: deliver when the service's socket exists
CLIENT_JSA=$LIB/client.jsa
MAN1=$PREFIX/share/man/man1/cryptforward.1
MAN5=$PREFIX/share/man/man5/cryptforward.toml.5
COMPLETION=$PREFIX/share/bash-completion/completions/cryptforward
COMMAND=$BIN
SENDMAIL_WRAPPER=$LIB/sendmail
SENDMAIL_LINKS="/usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/bin/newaliases"
QUEUE_CRON=/etc/cron.d/cryptforward-queue
QUEUE_UNIT_DIR=/etc/systemd/system
QUEUE_UNIT=cryptforward-queue
MTA_PACKAGE=cryptforward-sendmail
UNIT_DIR=/etc/systemd/system
SOCKET_UNIT=cryptforward.socket
SERVICE_UNIT=cryptforward.service
UPGRADED=no

WORK=
cleanup() {
    if [ -n "$WORK" ]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# helpers

# The example file $1 with the command's path for this prefix.
with_prefix() {
    sed "s|$DEFAULT_COMMAND|$COMMAND|g" "$1"
}

# Java's major version of the java (or javac) in $1, or nothing.
java_major() {
    "$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | sed 's/^1\.//; s/\..*//' | head -n 1
}

javac_major() {
    "$1" -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p' | head -n 1
}

# A Postfix list value ("a, b c") as one item per line.
list_items() {
    printf '%s\n' "$1" | tr ', \t' '\n\n\n' | sed '/^$/d'
}

join_items() {
    paste -s -d , - | sed 's/,/, /g'
}

daemon_running() {
    pidof "$1" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# build

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing: $* - install JDK 17 or later and Maven, then run install.sh again"
    say "installing with apt: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
}

dist_is_current() {
    [ -r "$SRC/target/dist/lib/cryptforward.jar" ] && [ -r "$SRC/target/dist/bin/cryptforward" ] &&
        [ -r "$SRC/target/dist/share/bash-completion/completions/cryptforward" ] || return 1
    [ -f "$SRC/pom.xml" ] || return 0
    [ -z "$(find "$SRC/pom.xml" "$SRC/src/main" -newer "$SRC/target/dist/lib/cryptforward.jar" -print 2>/dev/null | head -n 1)" ]
}

prepare_dist() {
    need_build=yes
    if dist_is_current; then
        need_build=no
    fi
    [ "$need_build" = no ] || [ -f "$SRC/pom.xml" ] || die "no pom.xml and no built target/dist in $SRC"

    packages=
    java=$(command -v java 2>/dev/null || true)
    jm=
    if [ -n "$java" ]; then
        jm=$(java_major "$java")
    fi
    if [ -z "$jm" ] || [ "$jm" -lt 17 ]; then
        packages="openjdk-17-jdk-headless"
    fi
    if [ "$need_build" = yes ]; then
        javac=$(command -v javac 2>/dev/null || true)
        if [ -z "$javac" ] || [ -z "$(javac_major "$javac")" ] || [ "$(javac_major "$javac")" -lt 17 ]; then
            packages="openjdk-17-jdk-headless"
        fi
        command -v mvn >/dev/null 2>&1 || packages="$packages maven"
    fi
    if [ -n "$packages" ]; then
        # shellcheck disable=SC2086
        apt_install $packages
    else
        say "Java $(java_major "$(command -v java)") found$([ "$need_build" = yes ] && printf ', and Maven')"
    fi
    major=$(java_major "$(command -v java)")
    [ -n "$major" ] && [ "$major" -ge 17 ] || die "the java on PATH is not Java 17 or later; make Java 17 the default (update-alternatives --config java)"

    if [ "$need_build" = yes ]; then
        say "building (mvn -B -q -DskipTests package) in $SRC"
        (cd "$SRC" && mvn -B -q -DskipTests package) || die "the build failed"
        dist_is_current || die "the build did not produce target/dist"
    else
        say "using the build in $SRC/target/dist"
    fi
}

# ---------------------------------------------------------------------------------------------
# files

create_user() {
    if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists"
        return
    fi
    if getent group "$SERVICE_USER" >/dev/null 2>&1; then
        group_opt="--gid $SERVICE_USER"
    else
        group_opt="--user-group"
    fi
    shell=/usr/sbin/nologin
    [ -x "$shell" ] || shell=/bin/false
    # shellcheck disable=SC2086
    useradd --system $group_opt --home-dir "$VAR_DIR" --no-create-home --shell "$shell" \
        --comment "cryptforward mail filter" "$SERVICE_USER"
    say "created system user $SERVICE_USER (home $VAR_DIR, no login)"
}

# directory OWNER:GROUP MODE
make_dir() {
    mkdir -p "$1"
    chown "$2" "$1"
    chmod "$3" "$1"
}

install_files() {
    dist=$SRC/target/dist
    make_dir "$PREFIX/bin" root:root 0755
    make_dir "$LIB" root:root 0755
    rm -f "$JSA.new" "$CLIENT_JSA.new"
    if cmp -s "$dist/lib/cryptforward.jar" "$JAR" && cmp -s "$dist/bin/cryptforward" "$BIN"; then
        say "$BIN and $JAR are up to date"
    else
        # The start-up archives do not fit a new jar: remove them first, make new ones below.
        rm -f "$JSA" "$CLIENT_JSA"
        install -o root -g root -m 0644 "$dist/lib/cryptforward.jar" "$JAR.new"
        mv -f "$JAR.new" "$JAR"
        install -o root -g root -m 0755 "$dist/bin/cryptforward" "$BIN.new"
        mv -f "$BIN.new" "$BIN"
        UPGRADED=yes
        say "installed $BIN and $JAR"
    fi

    make_dir "$PREFIX/share/man/man1" root:root 0755
    make_dir "$PREFIX/share/man/man5" root:root 0755
    install -o root -g root -m 0644 "$SRC/man/cryptforward.1" "$MAN1"
    install -o root -g root -m 0644 "$SRC/man/cryptforward.toml.5" "$MAN5"
    say "installed manual pages $MAN1 and $MAN5"

    make_dir "$PREFIX/share/bash-completion/completions" root:root 0755
    # generated by the build, from picocli's model of the commands
    [ -s "$SRC/target/dist/share/bash-completion/completions/cryptforward" ] ||
        die "the build made no bash completion (target/dist/share/bash-completion/completions/cryptforward)"
    install -o root -g root -m 0644 "$SRC/target/dist/share/bash-completion/completions/cryptforward" "$COMPLETION"
    say "installed bash completion $COMPLETION"
}

make_directories() {
    make_dir "$VAR_DIR" "$SERVICE_USER:$SERVICE_USER" 0755
    make_dir "$VAR_DIR/keyring" "$SERVICE_USER:$SERVICE_USER" 0755
    make_dir "$VAR_DIR/state" "$SERVICE_USER:$SERVICE_USER" 0700
    make_dir "$VAR_DIR/Maildir" "$SERVICE_USER:$SERVICE_USER" 0700
    make_dir "$ETC_DIR" "root:$SERVICE_USER" 0750
    say "directories: $VAR_DIR/keyring (0755), state (0700), Maildir (0700), owned by $SERVICE_USER; $ETC_DIR (0750)"
}

install_config() {
    if [ -e "$CONFIG" ]; then
        say "kept the existing $CONFIG"
        if command -v runuser >/dev/null 2>&1 && ! runuser -u "$SERVICE_USER" -- test -r "$CONFIG"; then
            warn "$CONFIG is not readable by the $SERVICE_USER user; deliveries would fail (chgrp $SERVICE_USER, chmod 0640)"
        fi
        return
    fi
    install -o root -g "$SERVICE_USER" -m 0640 "$SRC/examples/cryptforward.toml" "$CONFIG"
    say "wrote $CONFIG from examples/cryptforward.toml (root:$SERVICE_USER, 0640)"
}

# ---------------------------------------------------------------------------------------------
# class-data-sharing archive: the classes that representative runs load, mapped at start-up

# Whether the thin client's JVM maps archive $1 (-Xshare:on fails when it cannot) and runs
# cryptforward from it: started as the client for a command that is not its, it leaves the
# command to the full JVM with 120 at once.
client_archive_ok() {
    rc=0
    CRYPTFORWARD_JAVA_OPTS="-Xshare:on -XX:SharedArchiveFile=$1 -Dcryptforward.launch=client" \
        "$BIN" --version >/dev/null 2>&1 || rc=$?
    [ "$rc" = 120 ]
}

make_cds_archive() {
    # -Xshare:on makes the JVM fail when it cannot map the archive: after a Java update, say.
    if [ -f "$JSA" ] && CRYPTFORWARD_JAVA_OPTS="-Xshare:on" "$BIN" --version >/dev/null 2>&1 &&
        [ -f "$CLIENT_JSA" ] && client_archive_ok "$CLIENT_JSA"; then
        say "the start-up archives $JSA and $CLIENT_JSA are up to date"
        return
    fi
    rm -f "$JSA" "$CLIENT_JSA"
    t=$WORK/cds
    mkdir -p "$t/keyring" "$t/state"
    # A throwaway configuration: a real delivery with a local copy, whose forward meets a closed
    # loopback port (so it is deferred, which is all a training run needs).
    cat >"$t/cryptforward.toml" <<'EOF'
keyring = "keyring"
state_dir = "state"
deadline_seconds = 60
log_file = "cryptforward.log"
hostname = "cds.invalid"

[local]
mailbox = "Maildir/"

[relay]
host = "127.0.0.1"
port = 9
timeout_seconds = 5

[[rule]]
name = "training"
recipient = ["root", "root@*"]
forward_to = ["admin@example.org"]
keys = ["demo@example.org"]
EOF
    demo=$SRC/examples/demo
    n=0
    run() {
        n=$((n + 1))
        CRYPTFORWARD_JAVA_OPTS="-XX:DumpLoadedClassList=$t/classes.$n" "$BIN" "$@" >"$t/run.$n.log" 2>&1
    }
    run key import --config "$t/cryptforward.toml" "$demo"/keyring/*.asc || die "start-up archive: key import failed: $(head -n 3 "$t/run.$n.log")"
    run key list --config "$t/cryptforward.toml" || true
    run check --config "$t/cryptforward.toml" || true
    # shellcheck disable=SC2065
    run test --config "$t/cryptforward.toml" <"$demo/cron-mail.eml" || true
    run deliver --dry-run --config "$demo/cryptforward.toml" <"$demo/cron-mail.eml" ||
        die "start-up archive: deliver --dry-run of the demo message failed: $(head -n 3 "$t/run.$n.log")"
    run deliver --config "$t/cryptforward.toml" <"$demo/cron-mail.eml" || true
    run sendmail --config "$t/cryptforward.toml" -FCronDaemon -i -B8BITMIME -oem root <"$demo/cron-mail.eml" || true
    run queue list --config "$t/cryptforward.toml" || true
    [ -n "$(ls "$t/Maildir/new" 2>/dev/null)" ] || warn "start-up archive: the training delivery kept no local copy: $(head -n 3 "$t/run.$n.log")"
    # the resident service and its thin client: one delivery through `serve`
    printf '\n[service]\nsocket = "%s"\n' "$t/run/deliver.sock" >>"$t/cryptforward.toml"
    CRYPTFORWARD_JAVA_OPTS="-XX:DumpLoadedClassList=$t/classes.serve" "$BIN" serve --config "$t/cryptforward.toml" >"$t/serve.log" 2>&1 &
    serve_pid=$!
    i=0
    while [ ! -S "$t/run/deliver.sock" ] && [ $i -lt 200 ] && kill -0 "$serve_pid" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    # the thin client's classes, on their own too, for its archive (the launcher finds no client.jsa
    # yet: this JVM runs with the full archive, and the property the client's would have)
    CRYPTFORWARD_JAVA_OPTS="-XX:DumpLoadedClassList=$t/classes.client -Dcryptforward.launch=client" "$BIN" deliver \
        --config "$t/cryptforward.toml" <"$demo/cron-mail.eml" >"$t/client.log" 2>&1 || true # deferred: no relay
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true

    awk '!seen[$0]++' "$t"/classes.* >"$t/classes.lst"
    CRYPTFORWARD_JAVA_OPTS="-Xshare:dump -XX:SharedClassListFile=$t/classes.lst -XX:SharedArchiveFile=$JSA.new" \
        "$BIN" >"$t/dump.log" 2>&1 || {
        rm -f "$JSA.new"
        warn "could not create the start-up archive (cryptforward works, only starts slower): $(grep -i error "$t/dump.log" | head -n 2)"
        return
    }
    # Prove that it is usable before putting it in place.
    if CRYPTFORWARD_JAVA_OPTS="-Xshare:on -XX:SharedArchiveFile=$JSA.new" "$BIN" --version >"$t/verify.log" 2>&1; then
        chmod 0644 "$JSA.new"
        mv -f "$JSA.new" "$JSA"
        say "created the start-up archive $JSA ($(wc -l <"$t/classes.lst") classes listed)"
    else
        rm -f "$JSA.new"
        warn "the start-up archive was not usable and was removed: $(head -n 2 "$t/verify.log")"
        return
    fi
    # The thin client's: without it, deliver through the service maps the full archive (more memory,
    # a slower start); with it, the launcher uses it only when the service's socket exists.
    if [ -s "$t/classes.client" ] &&
        CRYPTFORWARD_JAVA_OPTS="-Xshare:dump -XX:SharedClassListFile=$t/classes.client -XX:SharedArchiveFile=$CLIENT_JSA.new" \
            "$BIN" >"$t/dump-client.log" 2>&1 &&
        client_archive_ok "$CLIENT_JSA.new"; then
        chmod 0644 "$CLIENT_JSA.new"
        mv -f "$CLIENT_JSA.new" "$CLIENT_JSA"
        say "created the thin client's start-up archive $CLIENT_JSA ($(wc -l <"$t/classes.client") classes listed)"
    else
        rm -f "$CLIENT_JSA.new"
        warn "could not create the thin client's start-up archive (deliver through the service only starts slower)"
    fi
}

# ---------------------------------------------------------------------------------------------
# the resident delivery service: systemd's socket and service, where systemd runs

setup_service() {
    if [ ! -d /run/systemd/system ]; then
        say "no systemd: run \"$COMMAND serve\" as $SERVICE_USER under your supervisor (examples/runit, examples/openrc);"
        say "  until it runs, deliver works in-process"
        return
    fi
    changed=no
    for unit in "$SOCKET_UNIT" "$SERVICE_UNIT"; do
        with_prefix "$SRC/examples/systemd/$unit" >"$WORK/$unit"
        if ! cmp -s "$WORK/$unit" "$UNIT_DIR/$unit"; then
            install -o root -g root -m 0644 "$WORK/$unit" "$UNIT_DIR/$unit.new"
            mv -f "$UNIT_DIR/$unit.new" "$UNIT_DIR/$unit"
            say "installed $UNIT_DIR/$unit"
            changed=yes
        fi
    done
    if [ "$changed" = yes ]; then
        timeout 60 systemctl daemon-reload || warn "systemctl daemon-reload failed"
    fi
    timeout 60 systemctl enable --now "$SOCKET_UNIT" >/dev/null 2>&1 || warn "could not enable $SOCKET_UNIT"
    if [ "$UPGRADED" = yes ] || [ "$changed" = yes ]; then
        # a running service keeps the old jar: restart it (socket activation starts it again)
        timeout 120 systemctl try-restart "$SERVICE_UNIT" || warn "could not restart $SERVICE_UNIT"
        say "restarted $SERVICE_UNIT if it was running (the next delivery starts it)"
    fi
    say "systemd: $SOCKET_UNIT enabled; the first delivery starts $SERVICE_UNIT as $SERVICE_USER"
}

remove_service() {
    [ -d /run/systemd/system ] || return 0
    removed=no
    for unit in "$SERVICE_UNIT" "$SOCKET_UNIT"; do
        if [ -e "$UNIT_DIR/$unit" ]; then
            timeout 120 systemctl disable --now "$unit" >/dev/null 2>&1 || true
            rm -f "$UNIT_DIR/$unit"
            say "removed $UNIT_DIR/$unit"
            removed=yes
        fi
    done
    if [ "$removed" = yes ]; then
        timeout 60 systemctl daemon-reload || true
    fi
}

# ---------------------------------------------------------------------------------------------
# Postfix: an alias table owned by the cryptforward user, looked up before /etc/aliases

postfix_table_type() {
    type=$(postconf -h default_database_type)
    case $type in
        hash | btree) suffix=db ;;
        lmdb) suffix=lmdb ;;
        *) die "Postfix's default_database_type is '$type'; install.sh knows hash, btree and lmdb" ;;
    esac
    TABLE_ENTRY=$type:$ALIAS_TABLE
    TABLE_DB=$ALIAS_TABLE.$suffix
}

setup_postfix() {
    command -v postconf >/dev/null 2>&1 && command -v postalias >/dev/null 2>&1 ||
        die "--postfix: Postfix is not installed (apt-get install postfix)"
    postfix_table_type

    changed=no
    with_prefix "$SRC/examples/cryptforward.aliases" >"$WORK/aliases"
    if [ ! -e "$ALIAS_TABLE" ]; then
        install -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0644 "$WORK/aliases" "$ALIAS_TABLE"
        say "wrote the alias table $ALIAS_TABLE (owned by $SERVICE_USER)"
    elif cmp -s "$WORK/aliases" "$ALIAS_TABLE"; then
        say "alias table $ALIAS_TABLE is in place"
    else
        say "kept your edited alias table $ALIAS_TABLE"
    fi
    if [ "$(stat -c %U "$ALIAS_TABLE")" != "$SERVICE_USER" ]; then
        chown "$SERVICE_USER:$SERVICE_USER" "$ALIAS_TABLE"
        say "gave $ALIAS_TABLE to $SERVICE_USER"
    fi
    grep -q "^root:" "$ALIAS_TABLE" || warn "$ALIAS_TABLE has no root entry: root's mail will not reach cryptforward"
    # Postfix runs the table's pipes as the owner of the database file. postalias -o writes it as
    # root (the directory is not writable by the user); then it is given to the user. Later
    # rebuilds by newaliases run as the owner and rewrite the file in place.
    if [ ! -e "$TABLE_DB" ] || [ -n "$(find "$ALIAS_TABLE" -newer "$TABLE_DB")" ] ||
        [ "$(stat -c %U "$TABLE_DB")" != "$SERVICE_USER" ]; then
        postalias -o "$TABLE_ENTRY"
        chown "$SERVICE_USER:$SERVICE_USER" "$TABLE_DB"
        chmod 0644 "$TABLE_DB"
        say "built $TABLE_DB (owned by $SERVICE_USER)"
        changed=yes
    fi

    maps=$(postconf -h alias_maps)
    first=$(list_items "$maps" | head -n 1)
    if [ "$first" = "$TABLE_ENTRY" ]; then
        say "alias_maps already starts with $TABLE_ENTRY"
    else
        new=$({
            printf '%s\n' "$TABLE_ENTRY"
            list_items "$maps" | grep -vxF "$TABLE_ENTRY" || true
        } | join_items)
        postconf -e "alias_maps = $new"
        say "set alias_maps = $new"
        changed=yes
    fi
    dbs=$(postconf -h alias_database)
    if list_items "$dbs" | grep -qxF "$TABLE_ENTRY"; then
        say "alias_database already has $TABLE_ENTRY"
    else
        new=$({
            list_items "$dbs"
            printf '%s\n' "$TABLE_ENTRY"
        } | join_items)
        postconf -e "alias_database = $new"
        say "set alias_database = $new (newaliases rebuilds the table)"
        newaliases
        changed=yes
    fi
    case " $(postconf -h allow_mail_to_commands | tr ',' ' ') " in
        *" alias "*) ;;
        *) warn "Postfix's allow_mail_to_commands does not include 'alias': Postfix will refuse the pipe" ;;
    esac
    if [ "$changed" = no ]; then
        :
    elif timeout 30 postfix status >/dev/null 2>&1; then
        timeout 60 postfix reload >/dev/null 2>&1 || warn "postfix reload failed"
        say "reloaded Postfix"
    else
        say "Postfix is not running; start it to deliver"
    fi
    root_there=$(postalias -q root "$type:$SYSTEM_ALIASES" 2>/dev/null || true)
    if [ -n "$root_there" ]; then
        say "note: root in $SYSTEM_ALIASES ($root_there) is now shadowed by $ALIAS_TABLE"
    fi
    say "Postfix: mail to root goes to \"|$COMMAND deliver\", run as $SERVICE_USER"
}

remove_postfix() {
    command -v postconf >/dev/null 2>&1 || return 0
    set --
    for param in alias_maps alias_database; do
        value=$(postconf -h "$param")
        if list_items "$value" | grep -q ":$ALIAS_TABLE\$"; then
            new=$(list_items "$value" | grep -v ":$ALIAS_TABLE\$" | join_items || true)
            set -- "$@" "$param = $new"
            say "set $param = $new"
        fi
    done
    if [ $# -gt 0 ]; then
        postconf -e "$@"
        newaliases || warn "newaliases failed"
        if timeout 30 postfix status >/dev/null 2>&1; then
            timeout 60 postfix reload >/dev/null 2>&1 || warn "postfix reload failed"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# Exim (Debian): /etc/aliases may run pipes, as the cryptforward user

# Removes our marked block from file $1.
# replace_file FILE NEW: NEW (a file written beside FILE) takes FILE's place in one rename, with
# FILE's owner and mode, so that a reader (the MTA) sees the old file or the new one, never a
# half-written one, and a crash leaves one of them.
replace_file() {
    if [ -e "$1" ]; then
        chown --reference="$1" "$2"
        chmod --reference="$1" "$2"
    fi
    sync "$2" 2>/dev/null || sync
    mv -f "$2" "$1"
}

# new_file FILE: the name of a temporary file beside FILE, for replace_file
new_file() {
    printf '%s.cf-new.%s' "$1" "$$"
}

# remove_block FILE: FILE without install.sh's marked block, replaced atomically
remove_block() {
    new=$(new_file "$1")
    awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$1" >"$new"
    replace_file "$1" "$new"
}

restart_exim() {
    if [ -d /run/systemd/system ]; then
        timeout 120 systemctl try-restart exim4.service || warn "could not restart exim4"
        say "restarted Exim (if it was running)"
    elif daemon_running exim4; then
        timeout 120 service exim4 restart >/dev/null || warn "could not restart exim4"
        say "restarted Exim"
    else
        say "Exim is not running; start it to deliver"
    fi
}

setup_exim() {
    command -v update-exim4.conf >/dev/null 2>&1 || die "--exim: Debian's exim4 is not installed (apt-get install exim4-daemon-light)"
    [ -d /etc/exim4 ] || die "--exim: /etc/exim4 does not exist"

    macros=$(sed -n 's/^\([A-Z_]*\)[[:space:]]*=.*/\1/p' "$SRC/examples/exim4/exim4.conf.localmacros")
    touch "$EXIM_MACROS"
    remove_block "$EXIM_MACROS"
    for m in $macros; do
        if grep -q "^[[:space:]]*${m}[[:space:]]*=" "$EXIM_MACROS"; then
            die "$EXIM_MACROS already defines $m; remove that line (cryptforward sets it) and run again"
        fi
    done
    new=$(new_file "$EXIM_MACROS")
    {
        cat "$EXIM_MACROS"
        printf '%s\n' "$MARK_BEGIN"
        cat "$SRC/examples/exim4/exim4.conf.localmacros"
        printf '%s\n' "$MARK_END"
    } >"$new"
    replace_file "$EXIM_MACROS" "$new"
    # shellcheck disable=SC2086
    say "set $(printf '%s ' $macros)in $EXIM_MACROS"

    line=$(with_prefix "$SRC/examples/aliases" | grep '^root:')
    touch "$SYSTEM_ALIASES"
    if grep -qxF "$line" "$SYSTEM_ALIASES"; then
        say "$SYSTEM_ALIASES already has: $line"
    else
        new=$(new_file "$SYSTEM_ALIASES")
        if grep -qi '^root[[:space:]]*:' "$SYSTEM_ALIASES"; then
            sed "s/^\([Rr][Oo][Oo][Tt][[:space:]]*:\)/$MARK_DISABLED\1/" "$SYSTEM_ALIASES" >"$new"
            say "disabled the other root entry in $SYSTEM_ALIASES (--uninstall restores it)"
        else
            cat "$SYSTEM_ALIASES" >"$new"
        fi
        printf '%s\n' "$line" >>"$new"
        replace_file "$SYSTEM_ALIASES" "$new"
        say "added to $SYSTEM_ALIASES: $line"
    fi
    update-exim4.conf
    restart_exim
    say "Exim: mail to root goes to \"|$COMMAND deliver\", run as $SERVICE_USER"
}

remove_exim() {
    if [ -f "$EXIM_MACROS" ] && grep -qxF "$MARK_BEGIN" "$EXIM_MACROS"; then
        remove_block "$EXIM_MACROS"
        if ! grep -q '[^[:space:]]' "$EXIM_MACROS"; then
            rm -f "$EXIM_MACROS"
        fi
        say "removed cryptforward's macros from $EXIM_MACROS"
        if command -v update-exim4.conf >/dev/null 2>&1; then
            update-exim4.conf
            restart_exim
        fi
    fi
    if [ -f "$SYSTEM_ALIASES" ]; then
        line=$(with_prefix "$SRC/examples/aliases" | grep '^root:')
        if grep -qxF "$line" "$SYSTEM_ALIASES"; then
            new=$(new_file "$SYSTEM_ALIASES")
            grep -vxF "$line" "$SYSTEM_ALIASES" >"$new" || true
            replace_file "$SYSTEM_ALIASES" "$new"
            say "removed from $SYSTEM_ALIASES: $line"
        fi
        if grep -q "^$MARK_DISABLED" "$SYSTEM_ALIASES"; then
            new=$(new_file "$SYSTEM_ALIASES")
            sed "s/^$MARK_DISABLED//" "$SYSTEM_ALIASES" >"$new"
            replace_file "$SYSTEM_ALIASES" "$new"
            say "restored the earlier root entry in $SYSTEM_ALIASES"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# No MTA: cryptforward as /usr/sbin/sendmail, and something that runs its queue

# Whether $1 is our link to the wrapper.
sendmail_link_is_ours() {
    [ -L "$1" ] && [ "$(readlink "$1")" = "$SENDMAIL_WRAPPER" ]
}

# Refuses --sendmail where an MTA owns the paths; checked before anything is installed.
check_no_mta() {
    for p in $SENDMAIL_LINKS; do
        if { [ -e "$p" ] || [ -L "$p" ]; } && ! sendmail_link_is_ours "$p"; then
            owner=$(dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p' || true)
            die "$p exists${owner:+ (from the package $owner)}: this host has an MTA; use --postfix or --exim instead of --sendmail"
        fi
    done
}

setup_sendmail() {
    check_no_mta
    wrapper=$SRC/target/dist/lib/sendmail
    [ -r "$wrapper" ] || wrapper=$SRC/src/main/sh/sendmail
    [ -r "$wrapper" ] || die "no sendmail wrapper in the build (target/dist/lib/sendmail)"
    sed "s|^CF=.*|CF=$COMMAND|" "$wrapper" >"$WORK/sendmail"
    if cmp -s "$WORK/sendmail" "$SENDMAIL_WRAPPER"; then
        say "$SENDMAIL_WRAPPER is up to date"
    else
        install -o root -g root -m 0755 "$WORK/sendmail" "$SENDMAIL_WRAPPER.new"
        mv -f "$SENDMAIL_WRAPPER.new" "$SENDMAIL_WRAPPER"
        say "installed $SENDMAIL_WRAPPER"
    fi
    for p in $SENDMAIL_LINKS; do
        if sendmail_link_is_ours "$p"; then
            continue
        fi
        mkdir -p "$(dirname "$p")"
        ln -s "$SENDMAIL_WRAPPER" "$p"
        say "linked $p to $SENDMAIL_WRAPPER"
    done

    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        printf '%s\n' "[Unit]" "Description=cryptforward: send the queued encrypted forwards that are due" "" \
            "[Service]" "Type=oneshot" "User=$SERVICE_USER" "Group=$SERVICE_USER" "WorkingDirectory=/" \
            "ExecStart=$COMMAND queue run --due" >"$WORK/$QUEUE_UNIT.service"
        printf '%s\n' "[Unit]" "Description=cryptforward: run the queue every minute" "" \
            "[Timer]" "OnBootSec=1min" "OnUnitActiveSec=1min" "AccuracySec=10s" "" \
            "[Install]" "WantedBy=timers.target" >"$WORK/$QUEUE_UNIT.timer"
        for u in "$QUEUE_UNIT.service" "$QUEUE_UNIT.timer"; do
            if ! cmp -s "$WORK/$u" "$QUEUE_UNIT_DIR/$u"; then
                install -o root -g root -m 0644 "$WORK/$u" "$QUEUE_UNIT_DIR/$u"
                say "installed $QUEUE_UNIT_DIR/$u"
            fi
        done
        timeout 60 systemctl daemon-reload || warn "systemctl daemon-reload failed"
        timeout 60 systemctl enable --now "$QUEUE_UNIT.timer" >/dev/null 2>&1 || warn "could not enable $QUEUE_UNIT.timer"
        say "the queue runs every minute from $QUEUE_UNIT.timer"
    else
        with_prefix "$SRC/examples/cron.d/cryptforward-queue" >"$WORK/cron"
        if cmp -s "$WORK/cron" "$QUEUE_CRON"; then
            say "$QUEUE_CRON is in place"
        else
            mkdir -p "$(dirname "$QUEUE_CRON")"
            install -o root -g root -m 0644 "$WORK/cron" "$QUEUE_CRON"
            say "installed $QUEUE_CRON (the queue runs every minute)"
        fi
        command -v cron >/dev/null 2>&1 || warn "no cron daemon is installed: install cron, or run '$COMMAND queue run --due' every minute"
    fi
    register_mta_package
    say "no MTA: /usr/sbin/sendmail is cryptforward; mail to root is kept locally and forwarded encrypted"
}

# Tells dpkg that this host has an MTA: an empty package that provides (and, as every MTA does,
# conflicts with) mail-transport-agent. Without it, installing bsd-mailx, mdadm or logwatch would
# pull in exim4, which would take /usr/sbin/sendmail over.
register_mta_package() {
    command -v dpkg-deb >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || return 0
    if dpkg-query -W -f '${Status}' "$MTA_PACKAGE" 2>/dev/null | grep -q 'install ok installed'; then
        say "dpkg knows cryptforward as this host's MTA (package $MTA_PACKAGE)"
        return 0
    fi
    pkg=$WORK/mta-package
    mkdir -p "$pkg/DEBIAN"
    printf '%s\n' "Package: $MTA_PACKAGE" "Version: 1" "Architecture: all" "Maintainer: install.sh of cryptforward <root@localhost>" \
        "Provides: mail-transport-agent" "Conflicts: mail-transport-agent" "Replaces: mail-transport-agent" \
        "Section: mail" "Priority: optional" \
        "Description: cryptforward as /usr/sbin/sendmail (install.sh --sendmail)" \
        " Marks cryptforward, installed by its install.sh, as this host's mail transport agent," \
        " so that packages that need one do not pull in another. It holds no files." >"$pkg/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$pkg" "$WORK/$MTA_PACKAGE.deb" >/dev/null || { warn "could not build the package $MTA_PACKAGE"; return 0; }
    dpkg -i "$WORK/$MTA_PACKAGE.deb" >/dev/null || { warn "could not install the package $MTA_PACKAGE"; return 0; }
    say "installed the package $MTA_PACKAGE: dpkg now counts cryptforward as this host's MTA"
}

remove_sendmail() {
    if command -v dpkg-query >/dev/null 2>&1 &&
        dpkg-query -W -f '${Status}' "$MTA_PACKAGE" 2>/dev/null | grep -q 'install ok installed'; then
        if dpkg --purge "$MTA_PACKAGE" >/dev/null 2>&1; then
            say "removed the package $MTA_PACKAGE"
        else
            warn "kept the package $MTA_PACKAGE: other packages need an MTA (install one, then: dpkg --purge $MTA_PACKAGE)"
        fi
    fi
    for p in $SENDMAIL_LINKS; do
        if sendmail_link_is_ours "$p"; then
            rm -f "$p"
            say "removed $p"
        fi
    done
    if [ -e "$SENDMAIL_WRAPPER" ]; then
        rm -f "$SENDMAIL_WRAPPER"
        say "removed $SENDMAIL_WRAPPER"
    fi
    if [ -e "$QUEUE_CRON" ]; then
        rm -f "$QUEUE_CRON"
        say "removed $QUEUE_CRON"
    fi
    if [ -e "$QUEUE_UNIT_DIR/$QUEUE_UNIT.timer" ] || [ -e "$QUEUE_UNIT_DIR/$QUEUE_UNIT.service" ]; then
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            timeout 60 systemctl disable --now "$QUEUE_UNIT.timer" >/dev/null 2>&1 || true
        fi
        rm -f "$QUEUE_UNIT_DIR/$QUEUE_UNIT.timer" "$QUEUE_UNIT_DIR/$QUEUE_UNIT.service"
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            timeout 60 systemctl daemon-reload || true
        fi
        say "removed $QUEUE_UNIT.timer and $QUEUE_UNIT.service"
    fi
}

# ---------------------------------------------------------------------------------------------

do_install() {
    if [ "$WITH_SENDMAIL" = yes ]; then
        check_no_mta
    fi
    WORK=$(mktemp -d)
    prepare_dist
    create_user
    install_files
    make_directories
    install_config
    make_cds_archive
    setup_service
    if [ "$WITH_POSTFIX" = yes ]; then
        setup_postfix
    fi
    if [ "$WITH_EXIM" = yes ]; then
        setup_exim
    fi
    if [ "$WITH_SENDMAIL" = yes ]; then
        setup_sendmail
    fi
    case ":$PATH:" in
        *":$PREFIX/bin:"*) cf=cryptforward ;;
        *) cf=$BIN ;;
    esac
    cat <<EOF

cryptforward is installed. Next steps:
  1. Import the public key(s) that forwards are encrypted to:
       gpg --export --armor you@example.org | sudo -u $SERVICE_USER $cf key import
  2. Set forward_to, keys and [relay] in $CONFIG (see man cryptforward.toml)
  3. Check everything, as the user that delivers:
       sudo -u $SERVICE_USER $cf check --relay
EOF
    if [ "$WITH_POSTFIX" = yes ] || [ "$WITH_EXIM" = yes ] || [ "$WITH_SENDMAIL" = yes ]; then
        cat <<EOF
  4. Send root a test mail and look for the encrypted forward:
       echo "test from \$(hostname)" | mail -s test root
EOF
    else
        cat <<EOF
  4. Route root's mail to it: ./install.sh --postfix or --exim (--sendmail on a host without an MTA)
EOF
    fi
    case $PREFIX in
        /usr/local | /usr) ;;
        *) printf '  Manual pages are in %s/share/man (MANPATH).\n' "$PREFIX" ;;
    esac
}

# confirm_purge: --purge deletes the kept mail; it goes ahead only with --yes or a "yes" typed
# on a terminal, and otherwise stops before anything is removed.
confirm_purge() {
    [ "$PURGE" = yes ] && [ "$ASSUME_YES" != yes ] || return 0
    [ -e "$ETC_DIR" ] || [ -e "$VAR_DIR" ] || return 0
    if [ ! -t 0 ]; then
        die "--purge would delete $ETC_DIR and $VAR_DIR with the keys and the kept mail; add --yes to confirm"
    fi
    printf 'install.sh: --purge deletes %s and %s, with the keys and the kept mail. Type yes to go on: ' "$ETC_DIR" "$VAR_DIR"
    answer=
    read -r answer || true
    [ "$answer" = yes ] || die "not confirmed; nothing removed"
}

do_uninstall() {
    confirm_purge
    remove_service
    remove_postfix
    remove_exim
    remove_sendmail
    for f in "$BIN" "$JAR" "$JSA" "$CLIENT_JSA" "$MAN1" "$MAN5" "$COMPLETION"; do
        if [ -e "$f" ]; then
            rm -f "$f"
            say "removed $f"
        fi
    done
    rmdir "$LIB" 2>/dev/null || true
    if [ "$PURGE" = yes ]; then
        for d in "$ETC_DIR" "$VAR_DIR"; do
            if [ -e "$d" ]; then
                rm -rf "$d"
                say "removed $d"
            fi
        done
        if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
            userdel "$SERVICE_USER"
            say "removed user $SERVICE_USER"
        fi
        if getent group "$SERVICE_USER" >/dev/null 2>&1; then
            groupdel "$SERVICE_USER"
        fi
    else
        say "kept $ETC_DIR, $VAR_DIR (keys, state, mail) and the $SERVICE_USER user; --purge removes them"
    fi
}

if [ "$ACTION" = install ]; then
    do_install
else
    do_uninstall
fi
