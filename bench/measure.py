#!/usr/bin/env python3
"""Runs a command and prints one JSON line: wall seconds, peak RSS (KiB) of the command, exit code,
and the command's own stdout (the engines print a JSON line of their own). The same wrapper for
every engine, so wall time and memory are measured the same way."""
import json, resource, subprocess, sys, time

t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "max_rss_kib": rss, "rc": proc.returncode, "stdout": proc.stdout, "stderr_tail": proc.stderr[-2000:]}))
