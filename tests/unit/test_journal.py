"""A recording's journal: a timeline (and the rest of the model) rebuilt from its ops is the
timeline it was recorded from; ops survive the file's encoding."""

from __future__ import annotations

import random
from pathlib import Path
from typing import List

import pytest

from gilscope.model import journal as J
from gilscope.model.lanes import MS, LaneKey, Tally
from gilscope.model.pyspy_ledger import SeenThread
from gilscope.model.thread_record import ThreadRecord
from gilscope.model.threads import ThreadRegistry
from gilscope.model.timeline import Timeline
from gilscope.record.codec import CodecError, decode, encode
from gilscope.record.recording import (
    RecordingError,
    RecordingWriter,
    decode_op,
    encode_op,
    read_recording,
)
from gilscope.sampling.gil_stacks import Frame, HeldStack, ThreadGil
from gilscope.sampling.pyspy import PySpyWindow

T0 = 10**12
PID = 77


def relay(tl: Timeline, seed: int = 1, shared: bool = True) -> None:
    """Random hand-offs among four threads, two of them sharing a family's lane."""
    rng = random.Random(seed)
    keys = [LaneKey(PID, i) for i in range(4)]
    tl.add_lane(keys[0], "a", 0)
    tl.add_lane(keys[1], "b", 0)
    if shared:
        tl.add_shared_lane(LaneKey(PID, 100), "job-*", 0)
        tl.add_runner(keys[2], LaneKey(PID, 100))
        tl.add_runner(keys[3], LaneKey(PID, 100))
    else:
        tl.add_lane(keys[2], "c", 0)
        tl.add_lane(keys[3], "d", 0)
    t = T0
    changes = []
    for _ in range(3000):
        t += rng.randint(1, 8 * MS)
        holder = rng.choice([*keys, None])
        changes.append((t, holder))
        for _ in range(rng.randint(0, 3)):  # heartbeats: the same holder, read again
            t += rng.randint(1, MS)
            changes.append((t, holder))
    tl.add_holders(PID, changes)
    for k in keys:
        tl.add_cpu(k, T0, t, rng.randint(0, t - T0))
    tl.rename(keys[1], "b2")


def test_a_timeline_rebuilt_from_its_journal_is_the_same() -> None:
    live = Timeline()
    journal = J.Journal()
    live.record_into(journal, "tl")
    relay(live)
    live.trace_state()
    ops = journal.take()
    # a hand-off each, not a heartbeat each
    assert sum(op[0] == J.HOLD for op in ops) < 3000 * 1.2
    copy = Timeline()
    copy.apply(decode_op(encode_op(op)) for op in ops)
    assert copy.keys() == live.keys()
    end = live.latest_ns
    assert copy.latest_ns == end
    for key in live.keys():  # noqa: SIM118 - a Timeline, not a dict
        assert copy.name(key) == live.name(key)
        assert copy.totals(key, T0, end) == live.totals(key, T0, end)
        assert copy.stats(key, end - 2_000 * MS, end) == live.stats(key, end - 2_000 * MS, end)
        for col in (MS, 10 * MS, 100 * MS):
            assert copy.cells(key, end, col, 60) == live.cells(key, end, col, 60)
    for runner in (LaneKey(PID, 2), LaneKey(PID, 3)):
        assert copy.tally(runner).held_ns == live.tally(runner).held_ns
        assert copy.tally(runner).runs == live.tally(runner).runs


def test_a_shared_lanes_runs_stay_in_time_order() -> None:
    live = Timeline()
    journal = J.Journal()
    live.record_into(journal, "tl")
    relay(live, seed=5)
    copy = Timeline()
    copy.apply(journal.take())
    runs = [tuple(r) for r in copy._lanes[LaneKey(PID, 100)].runs]
    assert runs == sorted(runs) == [tuple(r) for r in live._lanes[LaneKey(PID, 100)].runs]


def test_a_registry_rebuilt_from_its_changes_answers_the_same() -> None:
    live = ThreadRegistry(Timeline())
    journal = J.Journal()
    live.timeline.record_into(journal, "tl")
    for tid in range(10, 30):
        key = live.thread(PID, tid, tid, f"job-{tid}")
        if tid % 3:
            live.end(key)
    live.set_gil(PID, True)
    copy = ThreadRegistry(Timeline())
    copy.timeline.apply(journal.take())  # the lanes and runners are the timeline's ops
    for op in live.take_changes():
        copy.apply(decode_op(encode_op(op)))
    assert copy.records() == live.records()
    assert [lane.key for lane in copy.lanes(ended=True)] == [
        lane.key for lane in live.lanes(ended=True)
    ]
    assert live.take_changes() == []  # nothing new since


def test_ops_with_model_objects_survive_encoding() -> None:
    window = PySpyWindow(
        PID, T0, T0 + 10**9, 499, True,
        (ThreadGil(11, "w", 200, 0.4, (HeldStack((Frame("f", "/x/a.py", 3),), 0.4),)),),
        True, 2, T0 - 5,
    )  # fmt: skip
    record = ThreadRecord(LaneKey(PID, 5), LaneKey(PID, 5), 11, 0x7F, 9, "w", "py-spy", 0)
    tally = Tally()
    tally.held_ns, tally.runs = 123, 4
    ops: List[J.Op] = [
        (J.WINDOW, window, [SeenThread(LaneKey(PID, 5), LaneKey(PID, 5), window.threads[0])],
         [LaneKey(PID, 5)], T0, {LaneKey(PID, 5): 0.41}, [LaneKey(PID, 5)], True),
        (J.RECORD, record),
        (J.REGISTRY, {PID: 0}, {PID: True}, [PID], [(PID, "job-*", LaneKey(PID, 9))],
         [(PID, "job-*", tally)]),
        (J.CORES, [0.5, 0.25], True),
    ]  # fmt: skip
    for op in ops:
        back = decode_op(encode_op(op))
        if op[0] == J.REGISTRY:
            assert back[:5] == op[:5] and back[5][0][2].held_ns == 123
        else:
            assert back == op


def test_the_codec_refuses_what_is_not_the_declared_type() -> None:
    with pytest.raises(CodecError):
        decode(LaneKey, ["x", 1])
    assert decode(LaneKey, encode(LaneKey(1, 2))) == LaneKey(1, 2)


def test_a_file_cut_short_reads_to_its_last_whole_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.rec"
    writer = RecordingWriter(str(path), {"host": "h"})
    for i in range(5):
        writer.frame({"t": i, "o": 1, "ops": [[J.CORES, [0.5], True]], "s": {}})
    # not closed: as after a SIGKILL
    data = path.read_bytes()
    for cut, whole in ((len(data), 5), (len(data) - 12, 4)):  # 12: into the last frame
        path.write_bytes(data[:cut])
        _, frames = read_recording(str(path))
        assert [f["t"] for f in frames] == list(range(whole))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is not a gilscope recording"),
        (b"hello\n", "is not a gilscope recording"),
        (b'{"format": "gilscope-recording", "version": 99}\n', "newer gilscope (format 99)"),
        (b'{"format": "gilscope-recording", "version": 1}\n' + b"\xff" * 64, "damaged"),
    ],
)
def test_what_is_no_recording_says_so_in_one_line(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "r.rec"
    path.write_bytes(content)
    with pytest.raises(RecordingError) as e:
        _, frames = read_recording(str(path))
        list(frames)
    assert says in str(e.value) and "\n" not in str(e.value)
