"""The worker: what runs inside the child processes gilscope launches.

Started by path with whatever interpreter the user chose, so it uses the standard library
and gilscope's beacon board only. One process runs one task in one or more threads:

- ``countdown``: the seeds' ``while n > 0: n -= 1``, stamping its board slot every chunk
  (about once a millisecond): only the GIL holder runs bytecode, so the stamps are the relay.
- ``io``: request/response round-trips to a slow loopback server; a thread releases the GIL
  while it blocks in ``recv``, so K threads wait at the same time.
- ``native``: sha256 over 4 MiB blocks; hashlib releases the GIL while it hashes.
- ``convoy``: a countdown thread and a responder thread answering a client's requests;
  the countdown starts after a quiet baseline, so latencies are measured with and without it.
- ``server`` / ``client``: the loopback peers of ``io`` and ``convoy`` (not observed).

Explicit-event tasks write tagged words (ACQUIRED, RELEASED, WAITING) instead of stamps.

Protocol with the parent: announce READY in the slot, wait for a line on stdin ("go"), run,
mark DONE, exit. Workers die with their parent: PR_SET_PDEATHSIG where Linux offers it, and
a parent-pid check about once a second from inside the loops as well.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import heapq
import os
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gilscope.sampling.report import (
    ACQUIRED,
    LATENCY_ALONE,
    LATENCY_BUSY,
    RELEASED,
    WAITING,
    BeaconWriter,
)

PR_SET_PDEATHSIG = 1
NATIVE_BLOCK = 4 << 20  # bytes per hashlib call: large enough that hashing dwarfs the call
CONVOY_BASELINE_S = 1.0  # the responder alone, before the countdown thread starts
CONVOY_PERIOD_S = 0.002  # the client's request interval
MSG = 8  # every request and reply is one little-endian 64-bit word


def countdown(n: int, chunk: int, mark: Callable[[], None]) -> None:
    """The seeds' loop, ``while k > 0: k -= 1``, run in chunks with one stamp after each."""
    while n > 0:
        k = chunk if n > chunk else n
        n -= k
        while k > 0:
            k -= 1
        mark()


def warm_up(chunk: int) -> None:
    """Run the loop a few times first: CPython 3.11+ specialises a function's bytecode only
    after several calls, and every scenario should count with the same, warm loop."""
    for _ in range(16):
        countdown(2 * chunk, chunk, lambda: None)


def calibrate_chunk(target_ns: int = 1_000_000) -> Tuple[int, int]:
    """Iterations of the bare loop that take about ``target_ns``; fastest of a few tries."""
    best = None
    trial = 100_000
    for _ in range(5):
        n = trial
        t0 = time.perf_counter_ns()
        while n > 0:
            n -= 1
        dt = time.perf_counter_ns() - t0
        best = dt if best is None else min(best, dt)
    assert best is not None
    chunk = max(1_000, trial * target_ns // max(best, 1))
    return chunk, chunk * best // trial


def warm_chunk_ns(chunk: int) -> int:
    """How long one chunk takes now that the loop is warm (the first calibration ran it
    cold, at up to twice that): the best of a few quarter-chunks, as the countdown runs it.
    The observer expects the run's length from this."""
    quarter = max(chunk // 4, 1)
    best = None
    for _ in range(5):
        t0 = time.perf_counter_ns()
        countdown(quarter, quarter, _nothing)
        dt = time.perf_counter_ns() - t0
        best = dt if best is None else min(best, dt)
    assert best is not None
    return best * chunk // quarter


def _nothing() -> None:
    pass


def chunk_target_ns(switch_s: float) -> int:
    """Stamp at least twice per switch interval, so short hand-offs still show; but not
    more often than every 0.2 ms (the stamp costs ~0.2 µs) nor less than every 1 ms."""
    return int(min(1e6, max(2e5, switch_s * 1e9 / 2)))


def die_with_parent(parent: int) -> Callable[[], None]:
    """Arrange to die when ``parent`` does; returns the periodic check for the loop."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def check() -> None:
        if os.getppid() != parent:
            os._exit(3)

    check()  # the parent may have gone before prctl took effect
    return check


def recv_word(sock: socket.socket) -> int:
    """One 8-byte message; -1 when the peer closed."""
    data = b""
    while len(data) < MSG:
        more = sock.recv(MSG - len(data))
        if not more:
            return -1
        data += more
    return int.from_bytes(data, "little")


def word(n: int) -> bytes:
    return n.to_bytes(MSG, "little")


def io_round_trips(
    n: int, port: int, emit: Callable[[int], None], check: Callable[[], None]
) -> Callable[[], None]:
    """``n`` requests to the slow server, one at a time; the GIL is free while we wait.

    The reply carries the time the server sent it: from then until ``recv`` returns, this
    thread was awake and waiting to take the GIL back.
    """
    clock = time.monotonic_ns
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run() -> None:
        emit(ACQUIRED | clock())
        for i in range(n):
            released = clock()
            emit(RELEASED | released)
            sock.sendall(word(released))
            sent = recv_word(sock)
            now = clock()
            if sent < 0:
                raise ConnectionError("the loopback server closed the connection")
            emit(WAITING | min(max(sent, released), now))
            emit(ACQUIRED | now)
            if not i & 255:
                check()
        emit(RELEASED | clock())
        sock.close()

    return run


def native_hashing(
    megabytes: int, emit: Callable[[int], None], check: Callable[[], None]
) -> Callable[[], None]:
    """sha256 over ``megabytes`` MiB in 4 MiB calls; each call runs without the GIL."""
    clock = time.monotonic_ns
    block = bytes(NATIVE_BLOCK)
    blocks = max(1, megabytes * (1 << 20) // NATIVE_BLOCK)

    def run() -> None:
        h = hashlib.sha256()
        emit(ACQUIRED | clock())
        for i in range(blocks):
            emit(RELEASED | clock())
            h.update(block)
            emit(ACQUIRED | clock())
            if not i & 63:
                check()
        emit(RELEASED | clock())

    return run


def serve_slowly(listener: socket.socket, delay_ns: int, check: Callable[[], None]) -> None:
    """The io scenario's server: answer each request ``delay_ns`` after it arrives.

    One selector loop and a heap of due replies, so it serves any number of clients at once
    and each waits the same. The reply is the time it was sent.
    """
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ)
    due: List[Tuple[int, int, socket.socket]] = []
    buffers: Dict[socket.socket, bytes] = {}
    seq = 0
    while True:
        check()
        now = time.monotonic_ns()
        timeout = 0.5 if not due else max(0.0, (due[0][0] - now) / 1e9)
        for key, _ in sel.select(timeout):
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                conn.setblocking(True)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ)
                buffers[conn] = b""
                continue
            assert isinstance(sock, socket.socket)
            data = sock.recv(4096)
            if not data:
                sel.unregister(sock)
                sock.close()
                buffers.pop(sock, None)
                continue
            buffers[sock] += data
            arrived = time.monotonic_ns()
            while len(buffers[sock]) >= MSG:
                buffers[sock] = buffers[sock][MSG:]
                seq += 1
                heapq.heappush(due, (arrived + delay_ns, seq, sock))
        now = time.monotonic_ns()
        while due and due[0][0] <= now:
            _, _, sock = heapq.heappop(due)
            if sock in buffers:
                try:
                    sock.sendall(word(time.monotonic_ns()))
                except OSError:
                    pass


def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--task",
        default="countdown",
        choices=("countdown", "io", "native", "convoy", "server", "client"),
    )
    p.add_argument("--board", default="")
    p.add_argument("--slot", type=int, default=0, help="first board slot of this process")
    p.add_argument("--threads", type=int, default=0, help="0: run in the main thread")
    p.add_argument("--count", type=int, default=0, help="this process's share of N")
    p.add_argument("--parent", type=int, required=True)
    p.add_argument("--switch-interval", type=float, default=0.0, help="seconds; 0: default")
    p.add_argument("--listen-fd", type=int, default=-1, help="server, convoy: inherited socket")
    p.add_argument("--port", type=int, default=0, help="io, client: the server's port")
    p.add_argument("--delay-us", type=int, default=1000, help="server: reply delay")
    args = p.parse_args(argv)

    check_parent = die_with_parent(args.parent)
    if args.switch_interval > 0:
        sys.setswitchinterval(args.switch_interval)
    if args.task == "server":
        listener = socket.socket(fileno=args.listen_fd)
        serve_slowly(listener, args.delay_us * 1000, check_parent)
        return 0
    if args.task == "client":
        return convoy_client(args.board, args.slot, args.port, check_parent)

    chunk, chunk_ns = calibrate_chunk(chunk_target_ns(sys.getswitchinterval()))
    warm_up(chunk // 20)
    chunk_ns = warm_chunk_ns(chunk)
    workers = 2 if args.task == "convoy" else max(args.threads, 1)
    counts = [args.count // workers] * workers
    counts[0] += args.count - sum(counts)
    writers = [BeaconWriter(args.board, args.slot + i) for i in range(workers)]
    bodies: List[Callable[[], None]] = []
    if args.task == "countdown":
        bodies = [_countdown_body(w, c, chunk, check_parent) for w, c in zip(writers, counts)]
    elif args.task == "io":
        bodies = [
            io_round_trips(c, args.port, w.emitter(), check_parent) for w, c in zip(writers, counts)
        ]
    elif args.task == "native":
        bodies = [native_hashing(c, w.emitter(), check_parent) for w, c in zip(writers, counts)]
    else:
        bodies = convoy_bodies(writers, args.count, chunk, args.listen_fd, check_parent)
    go = threading.Event()

    # Only the countdowns' speed is what the calibration measured.
    iters = chunk if args.task in ("countdown", "convoy") else 0

    def run(i: int) -> None:
        w = writers[i]
        w.announce(
            threading.get_native_id(), threading.get_ident(), chunk_ns, counts[i],
            iters if i == 0 or args.task != "convoy" else 0,
        )  # fmt: skip
        go.wait()
        w.start()
        bodies[i]()
        w.finish()

    if args.threads == 0 and args.task != "convoy":
        writers[0].announce(
            threading.get_native_id(), threading.get_ident(), chunk_ns, counts[0], iters
        )
        if sys.stdin.readline().strip() != "go":
            return 2
        writers[0].start()
        bodies[0]()
        writers[0].finish()
        return 0

    names = {"convoy": ("cpu-countdown", "io-responder")}.get(args.task)
    threads = [
        # daemon: a worker waiting for "go" must not keep a refused process alive
        threading.Thread(
            target=run,
            args=(i,),
            name=names[i] if names else f"{args.task}-{args.slot + i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    if sys.stdin.readline().strip() != "go":
        return 2
    go.set()
    for t in threads:
        t.join()
    return 0


def _countdown_body(
    w: BeaconWriter, count: int, chunk: int, check: Callable[[], None]
) -> Callable[[], None]:
    def run() -> None:
        countdown(count, chunk, w.marker(check))

    return run


def convoy_bodies(
    writers: List[BeaconWriter],
    count: int,
    chunk: int,
    listen_fd: int,
    check: Callable[[], None],
) -> List[Callable[[], None]]:
    """The countdown thread and the responder thread of the convoy scenario.

    The responder answers each request as soon as it holds the GIL; the reply says whether
    the countdown was running, so the client can sort latencies into alone / with CPU.
    """
    listener = socket.socket(fileno=listen_fd)
    busy = threading.Event()
    finished = threading.Event()
    clock = time.monotonic_ns

    def cpu() -> None:
        time.sleep(CONVOY_BASELINE_S)
        writers[0].start()  # the countdown's own wall time starts now, not at "go"
        busy.set()
        countdown(count, chunk, writers[0].marker(check))
        busy.clear()
        finished.set()

    # A take back after a reply's send that took longer than this was a wait for the
    # countdown's hold (which lasts the switch interval), not the send's own µs.
    retake_wait_ns = int(sys.getswitchinterval() * 1e9 / 2)

    def responder() -> None:
        emit = writers[1].emitter()
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        emit(ACQUIRED | clock())
        released = clock()
        emit(RELEASED | released)
        while True:
            sent = recv_word(conn)
            now = clock()
            if sent < 0:
                break
            emit(WAITING | min(max(sent, released), now))
            emit(ACQUIRED | now)
            if finished.is_set():
                emit(RELEASED | clock())
                break
            reply = 1 if busy.is_set() else 0
            released = clock()
            emit(RELEASED | released)
            conn.sendall(word(reply))
            back = clock()
            if back - released > retake_wait_ns:
                # The countdown took the GIL during the send, and this thread waited for it
                # to take it back: say so, or that wait (seen by the probe) and the
                # countdown's take are lost inside the span before the next request.
                emit(WAITING | released)
                emit(ACQUIRED | back)
                released = clock()
                emit(RELEASED | released)
        conn.close()  # the client sees the end and finishes too

    return [cpu, responder]


def convoy_client(board: str, slot: int, port: int, check: Callable[[], None]) -> int:
    """The outside world of the convoy: a request every 2 ms, each latency to the board."""
    w = BeaconWriter(board, slot)
    emit = w.emitter()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    w.announce(threading.get_native_id(), threading.get_ident(), 0, 0)
    if sys.stdin.readline().strip() != "go":
        return 2
    w.start()
    clock = time.monotonic_ns
    next_t = clock()
    i = 0
    while True:
        sent = clock()
        sock.sendall(word(sent))
        busy = recv_word(sock)
        if busy < 0:
            break
        emit((LATENCY_BUSY if busy else LATENCY_ALONE) | (clock() - sent))
        i += 1
        if not i & 255:
            check()
        next_t += int(CONVOY_PERIOD_S * 1e9)
        pause = (next_t - clock()) / 1e9
        if pause > 0:
            time.sleep(pause)
        else:
            next_t = clock()
    w.finish()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
