"""A target whose threads write down their own time on a CPU, exactly, every ~0.5 ms.

Each thread counts in short chunks and after each one notes ``(time.monotonic_ns(),
time.thread_time_ns())``: its own CPU clock, which the kernel keeps exact (unlike
``/proc/.../schedstat``, updated at scheduler ticks). Ground truth for the lanes gilscope
draws for a process without a GIL. Usage: ``python cpu_truth_target.py OUT SECONDS K [GO]``;
if GO is given, its threads start once that file exists (the observer is ready: on a busy
machine that can take longer than SECONDS); writes ``{tid: [[t_ns, cpu_ns], ...]}`` as JSON
to OUT when its K threads are done.
"""

import json
import os
import sys
import threading
import time

marks = {}


def work(seconds):
    clock, cpu = time.monotonic_ns, time.thread_time_ns
    mine = marks.setdefault(threading.get_native_id(), [])
    end = clock() + int(seconds * 1e9)
    while True:
        k = 5000
        while k > 0:
            k -= 1
        t = clock()
        mine.append((t, cpu()))
        if t > end:
            break


seconds, k = float(sys.argv[2]), int(sys.argv[3])
if len(sys.argv) > 4:
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.01)
threads = [threading.Thread(target=work, args=(seconds,), name=f"spin-{i}") for i in range(k)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(sys.argv[1], "w") as f:
    json.dump(marks, f)
