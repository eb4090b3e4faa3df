"""``--metrics HOST:PORT``: what the session observes, as Prometheus/OpenMetrics counters.

Served by ``prometheus_client``'s own HTTP server; each scrape reads the current observation
(under the session's lock, so a scrape sees one consistent state). Every series is a counter
of the whole observation, so ``rate()`` over any window is the share of that window.

Label sets stay bounded however many threads come and go: per process the first
``THREADS_LABELLED`` threads seen get series of their own (``pid``, ``tid``, ``thread``) for
as long as gilscope remembers them; every later thread counts in its name family's series
(``thread="job-*"``, ``tid=""``), which keeps growing as members come and go, so ``rate()``
of a family is its members' share.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gilscope.model.lanes import LaneKey, Tally
from gilscope.observe.observation import Observation
from gilscope.session import Session

THREADS_LABELLED = 32  # per process; later threads are counted in their family's series
NS = 1e9


class GilCollector(Collector):
    """Reads the session at each scrape."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._labelled: Dict[int, Dict[LaneKey, None]] = {}  # pid -> its own-series threads

    def collect(self) -> Iterator[Any]:
        held = CounterMetricFamily(
            "gilscope_gil_held_seconds",
            "Seconds a thread held its process's GIL (rate(): its GIL share)",
            labels=["pid", "tid", "thread"],
        )
        waited = CounterMetricFamily(
            "gilscope_gil_wait_seconds",
            "Seconds a thread waited for its process's GIL",
            labels=["pid", "tid", "thread"],
        )
        cpu = CounterMetricFamily(
            "gilscope_thread_cpu_seconds",
            "Seconds a thread ran on a CPU",
            labels=["pid", "tid", "thread"],
        )
        handoffs = CounterMetricFamily(
            "gilscope_gil_handoffs",
            "Hand-offs of the GIL, as the interpreter counts them itself",
            labels=["pid"],
        )
        reads = CounterMetricFamily(
            "gilscope_probe_reads", "Reads of the process's GIL by the probe", labels=["pid"]
        )
        threads = GaugeMetricFamily(
            "gilscope_threads", "Threads seen, live and ended", labels=["pid", "state"]
        )
        with self.session.observed() as obs:
            for labels, tally in self._series(obs):
                held.add_metric(labels, tally.held_ns / NS)
                waited.add_metric(labels, tally.wait_ns / NS)
                cpu.add_metric(labels, tally.cpu_ns / NS)
            probe = obs.probe_targets()
            for pid in obs.observed_pids():
                count = obs.probe.handoffs_of(pid)
                if count is not None:
                    handoffs.add_metric([str(pid)], count)
                target = probe.get(pid)
                if target is not None:
                    reads.add_metric([str(pid)], target.reads)
                records = [r for r in obs.threads.records() if r.key.pid == pid]
                live = sum(r.alive for r in records)
                threads.add_metric([str(pid), "live"], live)
                threads.add_metric([str(pid), "ended"], len(records) - live)
        yield from (held, waited, cpu, handoffs, reads, threads)

    def _series(self, obs: Observation) -> Iterable[Tuple[List[str], Tally]]:
        """(labels, counters): the labelled threads one by one, the rest per family."""
        families: Dict[Tuple[int, str], Tally] = {}
        for pid in obs.observed_pids():
            labelled = self._labelled.setdefault(pid, {})
            for record in obs.threads.records():
                if record.key.pid != pid:
                    continue
                if record.key not in labelled and len(labelled) < THREADS_LABELLED:
                    labelled[record.key] = None
            kept = {r.key for r in obs.threads.records() if r.key.pid == pid}
            for key in [k for k in labelled if k not in kept]:
                del labelled[key]  # forgotten by the registry: its series ends
            for name, tally in obs.threads.families(pid).items():
                families[pid, name] = tally
            for record in obs.threads.records():
                if record.key.pid != pid or record.key not in labelled:
                    continue
                tally = obs.timeline.tally(record.key)
                yield [str(pid), str(record.tid or record.ident), record.name], tally
                # the family's series counts the others only
                rest = families.get((pid, record.family))
                if rest is not None:
                    families[pid, record.family] = _minus(rest, tally)
        for (pid, name), tally in families.items():
            if tally.members > 0:
                yield [str(pid), "", name], tally


def _minus(a: Tally, b: Tally) -> Tally:
    out = Tally()
    for name in ("held_ns", "wait_ns", "cpu_ns", "runs", "members"):
        setattr(out, name, getattr(a, name) - getattr(b, name))
    return out


class MetricsServer:
    """The exposition endpoint for ``session``, until ``stop``."""

    def __init__(self, session: Session, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GilCollector(session))
        self._server: Optional[Any]
        self._server, _ = start_http_server(port, host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
