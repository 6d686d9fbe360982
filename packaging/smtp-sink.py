#!/usr/bin/env python3
"""A minimal SMTP server on loopback for packaging/test-deb.sh: accepts every message and
writes each one to DIR/N.eml. Usage: smtp-sink.py DIR PORTFILE (it writes the port it
listens on to PORTFILE once it listens). Stops on SIGTERM."""
import os
import socketserver
import sys
import threading

DIR, PORTFILE = sys.argv[1], sys.argv[2]
counter = 0
lock = threading.Lock()


class Session(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        global counter
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            verb = line.decode("utf-8", "replace").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-sink")
                self.reply("250-8BITMIME")
                self.reply("250 SMTPUTF8")
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                lines = []
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                with lock:
                    counter += 1
                    name = os.path.join(DIR, "%04d.eml" % counter)
                with open(name + ".tmp", "wb") as f:
                    f.write(b"".join(lines))
                os.rename(name + ".tmp", name)
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


with Server(("127.0.0.1", 0), Session) as server:
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(PORTFILE + ".tmp", PORTFILE)
    server.serve_forever()
