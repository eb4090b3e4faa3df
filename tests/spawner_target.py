"""A target that starts short-lived threads at a steady rate, as a thread-per-request server
does: ``python spawner_target.py RATE [LIVE]`` (RATE 0: none). Each thread counts down ~1 ms
and ends;
``LIVE`` more threads stay alive, mostly asleep, each waking every 100 ms to count a little.
Runs until its stdin closes, then prints how many threads it started in how many seconds."""

import sys
import threading
import time

rate = float(sys.argv[1])
live = int(sys.argv[2]) if len(sys.argv) > 2 else 0
stop = threading.Event()


def job():
    n = 20_000
    while n > 0:
        n -= 1


def sleeper():
    while not stop.wait(0.1):
        job()


for i in range(live):
    threading.Thread(target=sleeper, name=f"sleeper-{i}", daemon=True).start()


spawned = [0]


def spawn():
    next_t = time.monotonic()
    while not stop.is_set():
        threading.Thread(target=job, name=f"job-{spawned[0]}").start()
        spawned[0] += 1
        next_t += 1 / rate
        time.sleep(max(0.0, next_t - time.monotonic()))


if rate > 0:
    threading.Thread(target=spawn, daemon=True).start()
began = time.monotonic()
print("spawning", flush=True)
sys.stdin.read()
stop.set()
# how many it started over how long: the rate it managed on this machine
print("spawned", spawned[0], time.monotonic() - began, flush=True)
