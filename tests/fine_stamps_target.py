"""A target whose two threads stamp ``time.monotonic_ns()`` every 2,000 iterations (30-50 µs).

Between two stamps of one thread with no other thread's stamp between, that thread ran
bytecode, so it held the GIL: ground truth for the probe (its integration test and
``benchmarks/bench_probe.py`` section 5). Usage: ``python fine_stamps_target.py OUT SECONDS``;
it starts counting on a line on stdin and writes ``{tid: [stamps]}`` as JSON to OUT.
"""

import json
import sys
import threading
import time

stamps = {}


def work(seconds):
    clock = time.monotonic_ns
    mine = stamps.setdefault(threading.get_native_id(), [])
    end = clock() + int(seconds * 1e9)
    while True:
        k = 2000
        while k > 0:
            k -= 1
        t = clock()
        mine.append(t)
        if t > end:
            break


sys.stdin.readline()  # "go", once the probe reads us
threads = [threading.Thread(target=work, args=(float(sys.argv[2]),)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(sys.argv[1], "w") as f:
    json.dump(stamps, f)
