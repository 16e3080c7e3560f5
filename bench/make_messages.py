#!/usr/bin/env python3
"""Writes the benchmark's messages: a 2 KB cron mail, a 200 KB logwatch report, and mails with
10 MB, 100 MB (and on request 1 GB) attachments, all to root, as Postfix hands them to a pipe.

Usage: make_messages.py DIR [--huge]
"""
import base64
import os
import random
import sys

out = sys.argv[1]
huge = "--huge" in sys.argv
os.makedirs(out, exist_ok=True)
rnd = random.Random(7)

HEAD = ("From root@bench.example  Mon Mar  3 06:25:04 2025\n"
        "Return-Path: <root@bench.example>\nX-Original-To: root\nDelivered-To: root@bench.example\n"
        "From: root@bench.example (Cron Daemon)\nTo: root@bench.example\n")


def cron(path, size):
    body = []
    n = 0
    while sum(len(l) for l in body) < size:
        body.append("/etc/cron.daily/job-%05d: run-parts: exited with return code %d\n" % (n, n % 3))
        n += 1
    with open(path, "w") as f:
        f.write(HEAD + "Subject: Cron <root@bench> run-parts --report /etc/cron.daily\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n"
                "Message-Id: <cron-%d@bench.example>\nDate: Mon,  3 Mar 2025 06:25:04 +0100\n\n" % size)
        f.write("".join(body)[:size])


def attachment(path, size):
    with open(path, "w") as f:
        f.write(HEAD + "Subject: nightly database dump\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"bench-boundary\"\n"
                "Message-Id: <dump-%d@bench.example>\nDate: Mon,  3 Mar 2025 06:25:04 +0100\n\n"
                "--bench-boundary\nContent-Type: text/plain; charset=us-ascii\n\nThe dump is attached.\n\n"
                "--bench-boundary\nContent-Type: application/octet-stream; name=\"dump.bin\"\n"
                "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"dump.bin\"\n\n" % size)
        raw = size * 3 // 4
        block = 57 * 1024
        written = 0
        while written < raw:
            n = min(block, raw - written)
            data = rnd.randbytes(n)
            enc = base64.b64encode(data).decode()
            f.write("\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\n")
            written += n
        f.write("--bench-boundary--\n")


cron(os.path.join(out, "cron-2k.eml"), 2 * 1024)
cron(os.path.join(out, "logwatch-200k.eml"), 200 * 1024)
attachment(os.path.join(out, "attachment-10m.eml"), 10 << 20)
attachment(os.path.join(out, "attachment-100m.eml"), 100 << 20)
if huge:
    attachment(os.path.join(out, "attachment-1g.eml"), 1 << 30)
