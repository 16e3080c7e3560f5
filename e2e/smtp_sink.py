#!/usr/bin/env python3
"""A minimal SMTP server on 127.0.0.1 that stores every message it accepts.

Stands in for the relay in the end-to-end tests. Each accepted message is written, exactly as
received after dot-unstuffing, to DIR/NNNN.eml, with DIR/NNNN.json holding the envelope; the
file appears only once complete (written under a temporary name, then renamed). The port is
written to --port-file once the server listens; --port reuses a port across restarts.

    smtp_sink.py --dir DIR --port-file FILE [--port N]
"""

import argparse
import json
import os
import signal
import socketserver
import sys
import threading

MAX_MESSAGE = 64 * 1024 * 1024


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)

    def save(self, mail_from, rcpt_to, data):
        with self.lock:
            n = len([f for f in os.listdir(self.directory) if f.endswith(".eml")]) + 1
            base = os.path.join(self.directory, "%04d" % n)
            with open(base + ".json.tmp", "w") as f:
                json.dump({"mail_from": mail_from, "rcpt_to": rcpt_to}, f)
            os.rename(base + ".json.tmp", base + ".json")
            with open(base + ".eml.tmp", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(base + ".eml.tmp", base + ".eml")
            return n


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        store = self.server.store
        mail_from, rcpt_to = None, []
        self.reply("220 sink.test ESMTP e2e sink")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            command = line.rstrip(b"\r\n").decode("ascii", "replace")
            verb = command[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink.test\r\n250-8BITMIME\r\n250-SIZE %d\r\n250 ENHANCEDSTATUSCODES" % MAX_MESSAGE)
            elif verb == "HELO":
                self.reply("250 sink.test")
            elif verb == "MAIL":
                mail_from, rcpt_to = command[10:].strip(), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if mail_from is None:
                    self.reply("503 5.5.1 MAIL first")
                    continue
                rcpt_to.append(command[8:].strip())
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpt_to:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                chunks, size = [], 0
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data:
                        return
                    if data in (b".\r\n", b".\n"):
                        break
                    if data.startswith(b"."):
                        data = data[1:]
                    size += len(data)
                    if size > MAX_MESSAGE:
                        self.reply("552 5.3.4 too big")
                        return
                    chunks.append(data)
                n = store.save(mail_from, rcpt_to, b"".join(chunks))
                mail_from, rcpt_to = None, []
                self.reply("250 2.0.0 stored as %04d" % n)
            elif verb == "RSET":
                mail_from, rcpt_to = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.store = Store(a.dir)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
