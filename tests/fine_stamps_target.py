"""A target whose two threads stamp ``time.monotonic_ns()`` every 2,000 iterations (30-50 µs).

Between two stamps of one thread with no other thread's stamp between, that thread ran
bytecode, so it held the GIL: ground truth for the probe (its integration test and
``benchmarks/bench_probe.py`` section 5). Usage:
``python fine_stamps_target.py OUT SECONDS [CERTAIN]``: it starts counting on a line on stdin,
runs for SECONDS and, if CERTAIN is given, on until it has that many *certain* pairs (two
stamps of one thread, nobody else's between, at most 200 µs apart: how many a few seconds
give depends on the CPU the machine spares, so a test asks for a count, not a time), then
writes ``{tid: [stamps]}`` as JSON to OUT.
"""

import json
import sys
import threading
import time

CERTAIN_GAP_NS = 200_000
stamps = {}
last = [0]  # who stamped last: only the GIL holder writes it
certain = [0]


def work(seconds, wanted):
    clock = time.monotonic_ns
    me = threading.get_native_id()
    mine = stamps.setdefault(me, [])
    end = clock() + int(seconds * 1e9)
    while True:
        k = 2000
        while k > 0:
            k -= 1
        t = clock()
        if last[0] == me and mine and t - mine[-1] <= CERTAIN_GAP_NS:
            certain[0] += 1
        last[0] = me
        mine.append(t)
        if t > end and certain[0] >= wanted:
            break


sys.stdin.readline()  # "go", once the probe reads us
wanted = int(sys.argv[3]) if len(sys.argv) > 3 else 0
args = (float(sys.argv[2]), wanted)
threads = [threading.Thread(target=work, args=args) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(sys.argv[1], "w") as f:
    json.dump(stamps, f)
