"""A target whose threads come and go, and say themselves when they held the GIL.

Usage: ``python churn_target.py OUT PHASES SECONDS``. On a line on stdin it runs PHASES
phases one after another; each starts two new threads (``job-0``, ``job-1``, then
``job-2``…) that count down for SECONDS, stamping ``time.monotonic_ns()`` every 2,000
iterations (30-50 µs). Between two stamps of one thread with nobody else's between, that
thread held the GIL: each thread's own hold time. Writes ``{tid: {"name", "stamps"}}`` as
JSON to OUT, then waits for stdin to close.
"""

import json
import sys
import threading
import time

threads_seen = {}


def work(seconds):
    clock = time.monotonic_ns
    me = threading.current_thread()
    mine = threads_seen.setdefault(threading.get_native_id(), {"name": me.name, "stamps": []})
    stamps = mine["stamps"]
    end = clock() + int(seconds * 1e9)
    while True:
        k = 2000
        while k > 0:
            k -= 1
        t = clock()
        stamps.append(t)
        if t > end:
            break


out, phases, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sys.stdin.readline()  # "go", once the observer is ready
for phase in range(phases):
    pair = [
        threading.Thread(target=work, args=(seconds,), name=f"job-{2 * phase + i}")
        for i in range(2)
    ]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
with open(out, "w") as f:
    json.dump(threads_seen, f)
print("written", flush=True)
sys.stdin.read()
