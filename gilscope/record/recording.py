"""The recording file: a header line, then compressed frames, one a second.

    {"format": "gilscope-recording", "version": 1, ...}\\n      plain JSON: what was observed
    zlib stream of frames, one JSON object per line, flushed after each frame

Each frame is flushed with Z_SYNC_FLUSH, so a file cut short (gilscope SIGKILLed, the
machine gone) still decompresses up to its last complete frame: everything until the last
second. Ops are encoded by their op code's schema (``OPS``), so a reader never guesses.
"""

from __future__ import annotations

import json
import zlib
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

from gilscope.model import journal as J
from gilscope.model.lanes import LaneKey, Tally
from gilscope.model.pyspy_ledger import SeenThread
from gilscope.model.thread_record import ThreadRecord
from gilscope.record.codec import CodecError, encode, pairs
from gilscope.sampling.pyspy import PySpyWindow

FORMAT = "gilscope-recording"
VERSION = 1
# The kinds of each op's values after its code, for ops that carry more than numbers.
OPS: Dict[str, Tuple[Any, ...]] = {
    J.WINDOW: (PySpyWindow, List[SeenThread], List[LaneKey], int, Dict[LaneKey, float],
               List[LaneKey], bool),
    J.FORGET: (List[LaneKey],),
    J.RECORD: (ThreadRecord,),
    J.FORGOTTEN: (LaneKey,),
    J.REGISTRY: (Dict[int, int], Dict[int, bool], List[int], List[Tuple[int, str, LaneKey]],
                 List[Tuple[int, str, Tally]]),
}  # fmt: skip
CHUNK = 1 << 16


class RecordingError(Exception):
    """A file that is no recording gilscope can read; str() is one line saying why."""


class RecordingWriter:
    """Appends frames to a new recording; each is on disk once ``frame`` returns."""

    def __init__(self, path: str, header: Dict[str, Any]) -> None:
        try:
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - kept open while recording
        except OSError as e:
            raise RecordingError(f"cannot write {path}: {e.strerror or e}") from None
        self.path = path
        self._zip = zlib.compressobj(6)
        self.bytes = 0
        head = dict(header, format=FORMAT, version=VERSION)
        self._write(json.dumps(head).encode() + b"\n")

    def frame(self, frame: Dict[str, Any]) -> None:
        frame = dict(frame, ops=[encode_op(op) for op in frame.get("ops", ())])
        line = json.dumps(frame, separators=(",", ":"), default=encode).encode() + b"\n"
        self._write(self._zip.compress(line) + self._zip.flush(zlib.Z_SYNC_FLUSH))

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        self.bytes += len(data)

    def close(self) -> None:
        if not self._file.closed:
            self._write(self._zip.flush(zlib.Z_FINISH))
            self._file.close()


def encode_op(op: J.Op) -> List[Any]:
    return [op[0], *(encode(v) for v in op[1:])]


def decode_op(data: Any) -> J.Op:
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise CodecError(f"not an op: {str(data)[:60]}")
    kinds = OPS.get(data[0])
    if kinds is None:
        return tuple(data)  # numbers and names only
    return (data[0], *pairs(kinds, data[1:]))


def read_recording(path: str) -> Tuple[Dict[str, Any], Iterator[Dict[str, Any]]]:
    """(header, frames). RecordingError for a file that is not a recording, a newer one,
    or one damaged before its end; a file cut short yields its complete frames."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed when the frames are read
    except OSError as e:
        raise RecordingError(f"cannot read {path}: {e.strerror or e}") from None
    first = f.readline(1 << 20)
    try:
        header = json.loads(first)
    except ValueError:
        f.close()
        raise RecordingError(f"{path} is not a gilscope recording") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        f.close()
        raise RecordingError(f"{path} is not a gilscope recording")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        f.close()
        raise RecordingError(
            f"{path} was recorded by a newer gilscope (format {version}); "
            f"this one reads format {VERSION}: upgrade gilscope"
        )
    return header, _frames(f, path)


def _frames(f: IO[bytes], path: str) -> Iterator[Dict[str, Any]]:
    unzip = zlib.decompressobj()
    pending = b""
    number = 0
    with f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            try:
                pending += unzip.decompress(chunk)
            except zlib.error:
                raise RecordingError(f"{path} is damaged after frame {number}") from None
            *lines, pending = pending.split(b"\n")
            for line in lines:
                number += 1
                yield _frame(line, path, number)
    # A last line without its newline was cut short while being written: left out.


def _frame(line: bytes, path: str, number: int) -> Dict[str, Any]:
    try:
        frame = json.loads(line)
        frame["ops"] = [decode_op(op) for op in frame.get("ops", ())]
    except (ValueError, CodecError, TypeError, AttributeError) as e:
        raise RecordingError(f"{path} is damaged at frame {number}: {e}") from None
    if not isinstance(frame, dict) or "t" not in frame:
        raise RecordingError(f"{path} is damaged at frame {number}")
    return frame


def optional_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)
