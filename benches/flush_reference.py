#!/usr/bin/env python3
"""The reference for `reporter flush`: what a careful Python script does with a folder of
spooled messages — read each file, send it with smtplib over ONE connection, remove it.

    python3 flush_reference.py PORT FOLDER
"""

import smtplib
import sys
from pathlib import Path


def main():
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for path in sorted(folder.glob("*.msg")):
            data = path.read_bytes()
            head, message = data.split(b"\n\n", 1)
            fields = [line.split(": ", 1) for line in head.decode().splitlines()[1:]]
            sender = next(v for k, v in fields if k == "from")
            recipients = [v for k, v in fields if k == "to"]
            smtp.sendmail(sender, recipients, message)
            path.unlink()


if __name__ == "__main__":
    main()
