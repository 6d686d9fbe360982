#!/usr/bin/env python3
"""The way an admin runs many commands at once in Python: a multiprocessing pool whose
workers call subprocess.run. Usage: pool_reference.py WORKERS COMMAND COUNT"""

import subprocess
import sys
from multiprocessing import Pool


def run(_):
    return subprocess.run(sys.argv[2], shell=True, capture_output=True).returncode


if __name__ == "__main__":
    workers, count = int(sys.argv[1]), int(sys.argv[3])
    with Pool(workers) as pool:
        codes = pool.map(run, range(count))
    sys.exit(1 if any(codes) else 0)
