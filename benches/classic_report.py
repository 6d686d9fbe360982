#!/usr/bin/env python3
"""The classic cron.daily script reporter replaces: run `df -h`, glue From/To/Subject onto
its output and hand it to the local relay with smtplib. Usage: classic_report.py PORT"""

import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage

port = int(sys.argv[1])
output = subprocess.run(["df", "-h"], capture_output=True, text=True).stdout
message = EmailMessage()
message["From"] = "reporter@" + socket.gethostname()
message["To"] = "staff@example.com"
message["Subject"] = "Nightly Disk Usage Report for " + socket.gethostname()
message.set_content(output)
with smtplib.SMTP("127.0.0.1", port) as relay:
    relay.send_message(message)
