#!/usr/bin/env python3
"""Checks what the end-to-end tests produced: the encrypted forward the sink received and the
local copy cryptforward kept, against the message that was sent.

    verify.py forward --sink DIR --token T --forward-to ADDR --gnupghome DIR --maildir DIR
                      --user NAME [--original FILE] [--secret TEXT]
        exactly one forward and one local copy for the message whose Subject holds T; the
        forward is PGP/MIME addressed to ADDR with the original's Subject outside and TEXT
        nowhere outside; gpg decrypts it to the local copy (plus the RFC 9788 mark); the local
        copy belongs to NAME with mode 0600; the original's body and header fields are inside.
    verify.py count --sink DIR --token T      how many forwards the sink holds for T
    verify.py local-count --maildir DIR --token T

Exits 1 with a message naming what is wrong.
"""

import argparse
import email
import email.policy
import os
import pwd
import stat
import subprocess
import sys

MARKS = [
    b'Content-Type: text/plain; charset=us-ascii; hp="cipher"\n\n',
    b'Content-Type: text/plain; charset=us-ascii; hp="cipher"\n',
    b'\nContent-Type: text/plain; charset=us-ascii; hp="cipher"\n',
    b'; hp="cipher"',
    b' hp="cipher"',
]
# with RFC 9788's mark, the protected-headers="v1" that mail clients of today read (ProtectedPayload)
MARKS = [m.replace(b'hp="cipher"', b'hp="cipher"; protected-headers="v1"') for m in MARKS] + MARKS


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def split(message):
    """(header, body) of a message, LF line endings; the header ends with its last field line."""
    m = lf(message)
    i = m.find(b"\n\n")
    if i < 0:
        return m, b""
    return m[: i + 1], m[i + 2:]


def fields(header):
    """The header's fields, each as its full (unfolded-as-written) bytes, in order."""
    out = []
    for line in header.split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\n" + line
        else:
            out.append(line)
    return out


def field(header, name):
    for f in fields(header):
        if f.lower().startswith(name.lower().encode() + b":"):
            return f
    return None


def subject_has(message, token):
    s = field(split(message)[0], "Subject")
    return s is not None and token.encode() in s


def sink_messages(sink, token):
    found = []
    for name in sorted(os.listdir(sink)):
        if name.endswith(".eml"):
            path = os.path.join(sink, name)
            with open(path, "rb") as f:
                data = f.read()
            if subject_has(data, token):
                found.append((path, data))
    return found


def local_copies(maildir, token):
    found = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read()
            if subject_has(data, token):
                found.append((path, data))
    return found


def decrypt(armor, gnupghome):
    p = subprocess.run(
        ["gpg", "--homedir", gnupghome, "--batch", "--no-tty", "--status-fd", "2", "--decrypt"],
        input=armor, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    status = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 0, "gpg --decrypt failed (%d): %s" % (p.returncode, status.strip()[-600:]))
    check("[GNUPG:] DECRYPTION_OKAY" in status, "gpg did not report DECRYPTION_OKAY")
    check("[GNUPG:] DECRYPTION_FAILED" not in status, "gpg reported DECRYPTION_FAILED")
    return p.stdout


def without_mark(payload, local):
    want = lf(local)
    got = lf(payload)
    for mark in MARKS:
        i = got.find(mark)
        if i >= 0:
            if got[:i] + got[i + len(mark):] == want:
                return True
    return False


def verify_forward(a):
    forwards = sink_messages(a.sink, a.token)
    check(len(forwards) == 1, "expected exactly one forward with %s in its Subject, the sink has %d" % (a.token, len(forwards)))
    path, raw = forwards[0]
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    check(msg.get_content_type() == "multipart/encrypted", "%s: not multipart/encrypted: %s" % (path, msg.get_content_type()))
    check(msg.get_param("protocol") == "application/pgp-encrypted", "%s: protocol is %r" % (path, msg.get_param("protocol")))
    parts = msg.get_payload()
    check(isinstance(parts, list) and len(parts) == 2, "%s: PGP/MIME needs exactly two parts" % path)
    check(parts[0].get_content_type() == "application/pgp-encrypted", "first part is %s" % parts[0].get_content_type())
    check(parts[0].get_payload(decode=True).strip() == b"Version: 1", "version part is not 'Version: 1'")
    check(parts[1].get_content_type() == "application/octet-stream", "second part is %s" % parts[1].get_content_type())
    armor = parts[1].get_payload(decode=True)
    check(armor.strip().startswith(b"-----BEGIN PGP MESSAGE-----") and armor.strip().endswith(b"-----END PGP MESSAGE-----"),
          "second part is not an armored OpenPGP message")
    outer = split(raw)[0]
    to = field(outer, "To")
    check(to is not None and a.forward_to.encode() in to, "outer To is %r, not the forward address %s" % (to, a.forward_to))
    check(field(outer, "X-Cryptforward-Loop") is not None, "no loop marker header outside")
    if a.secret:
        check(a.secret.encode() not in raw, "the message body (%s) is visible outside the encryption" % a.secret)

    payload = decrypt(armor, a.gnupghome)

    copies = local_copies(a.maildir, a.token)
    check(len(copies) == 1, "expected exactly one local copy with %s in %s, found %d" % (a.token, a.maildir, len(copies)))
    copy_path, copy = copies[0]
    st = os.lstat(copy_path)
    owner = pwd.getpwuid(st.st_uid).pw_name
    check(owner == a.user, "local copy %s belongs to %s, not %s" % (copy_path, owner, a.user))
    check(stat.S_IMODE(st.st_mode) == 0o600, "local copy %s has mode %o, not 600" % (copy_path, stat.S_IMODE(st.st_mode)))
    check(without_mark(payload, copy), "the decrypted forward is not the local copy plus the hp=\"cipher\" mark:\n%s"
          % payload[:800].decode("utf-8", "replace"))

    if a.original:
        with open(a.original, "rb") as f:
            original = f.read()
        o_header, o_body = split(original)
        p_header, p_body = split(payload)
        check(p_body == o_body, "the decrypted body differs from the body that was sent")
        for name in ("Subject", "X-Cron-Env", "MIME-Version", "Content-Transfer-Encoding", "X-E2E"):
            for f in fields(o_header):
                if f.lower().startswith(name.lower().encode() + b":"):
                    check(f in fields(p_header), "header field %r of the original is not inside, byte for byte" % f)
        o_subject = field(o_header, "Subject")
        check(field(outer, "Subject") == o_subject, "outer Subject %r is not the original's %r" % (field(outer, "Subject"), o_subject))
    print("ok: %s: one PGP/MIME forward to %s, decrypted by gpg to the local copy %s (%s, 0600)"
          % (a.token, a.forward_to, copy_path, owner))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--sink", required=True)
    f.add_argument("--token", required=True)
    f.add_argument("--forward-to", required=True)
    f.add_argument("--gnupghome", required=True)
    f.add_argument("--maildir", required=True)
    f.add_argument("--user", required=True)
    f.add_argument("--original")
    f.add_argument("--secret")
    c = sub.add_parser("count")
    c.add_argument("--sink", required=True)
    c.add_argument("--token", required=True)
    lc = sub.add_parser("local-count")
    lc.add_argument("--maildir", required=True)
    lc.add_argument("--token", required=True)
    a = p.parse_args()
    try:
        if a.command == "forward":
            verify_forward(a)
        elif a.command == "count":
            print(len(sink_messages(a.sink, a.token)))
        else:
            print(len(local_copies(a.maildir, a.token)))
    except Failed as e:
        print("verify.py: FAILED: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
