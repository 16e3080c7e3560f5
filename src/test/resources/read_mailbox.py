#!/usr/bin/env python3
"""Reads a Maildir or an mbox with Python's standard mailbox module and writes every message
to a directory, so that a test can compare them with what was delivered.

    read_mailbox.py maildir PATH OUTDIR   -> OUTDIR/<key>          (the Maildir key: the file name)
    read_mailbox.py mbox PATH OUTDIR      -> OUTDIR/<n>.from       (the From_ line, without line end)
                                             OUTDIR/<n>.msg        (the message as Python splits it out)

Prints the number of messages. Python's mbox reader splits at every line starting with "From "
and does not undo any quoting: the caller removes the mboxrd quoting itself.
"""
import mailbox
import os
import sys


def main():
    kind, path, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    if kind == "maildir":
        box = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(box.keys())
        for key in keys:
            with open(os.path.join(out, key), "wb") as f:
                f.write(box.get_bytes(key))
    elif kind == "mbox":
        box = mailbox.mbox(path, factory=None, create=False)
        keys = list(box.keys())
        for n, key in enumerate(keys):
            raw = box.get_bytes(key, from_=True)
            nl = raw.find(b"\n")
            with open(os.path.join(out, "%06d.from" % n), "wb") as f:
                f.write(raw[:nl])
            with open(os.path.join(out, "%06d.msg" % n), "wb") as f:
                f.write(raw[nl + 1:])
    else:
        sys.exit("unknown mailbox kind " + kind)
    box.close()
    print(len(keys))


if __name__ == "__main__":
    main()
