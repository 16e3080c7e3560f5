#!/usr/bin/env python3
"""A loopback SMTP sink for the benchmark: accepts every message, keeps nothing but a count.

Usage: smtp_sink.py PORT COUNT_FILE
Each accepted message increments the number in COUNT_FILE (written after the 250 reply).
Every reply, a multi-line one too, goes out in one write with Nagle's algorithm off, as a real
server sends it: a reply in pieces would have each client wait for a delayed ACK (40 ms) in the
middle of its EHLO, which would be the sink being measured, not the client.
"""
import socket
import socketserver
import sys
import threading

PORT = int(sys.argv[1])
COUNT_FILE = sys.argv[2]
lock = threading.Lock()
count = 0


class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        global count
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reply("220 bench-sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                self.reply("250-bench-sink\r\n250-8BITMIME\r\n250 SIZE 2000000000")
            elif cmd == b"DATA":
                self.reply("354 go ahead")
                # read in large chunks until CRLF.CRLF: the sink must not be what is measured
                tail = b"\r\n"
                while True:
                    chunk = self.rfile.read1(1 << 20)
                    if not chunk:
                        return
                    window = tail + chunk
                    if window.endswith(b"\r\n.\r\n") or b"\r\n.\r\n" in window:
                        break
                    tail = window[-4:]
                with lock:
                    count += 1
                    with open(COUNT_FILE, "w") as f:
                        f.write(str(count))
                self.reply("250 2.0.0 accepted")
            elif cmd == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with open(COUNT_FILE, "w") as f:
    f.write("0")
Server(("127.0.0.1", PORT), Session).serve_forever()
