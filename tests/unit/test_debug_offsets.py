"""``_Py_DebugOffsets`` read by its version's declaration, from bytes the real builds hold.

Each struct below is the start of ``_PyRuntime`` as CPython 3.13.0 (pyenv), 3.14.10 and
3.15.2 (Debian) and a free-threaded 3.13.15t (built with --disable-gil) hold it, read out
of the running interpreters; the live check against self-inspection runs in
tests/integration/test_gil_probe.py on every interpreter present.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Iterator, List

import pytest

from gilscope.sampling import self_inspect
from gilscope.sampling.self_inspect import DEBUG_COOKIE, Failed, debug_offsets

# version (PY_VERSION_HEX), then every uint64_t after it up to tstate.native_thread_id
DUMPS = {
    "3.13.0": [0x30D00F0, 0, 283320, 608, 632, 194968, 7272, 7264, 7344, 7400, 7656, 7640,
               7648, 16, 7752, 0, 7768, 7760, 304, 0, 8, 16, 72, 152, 160],
    "3.14.10": [0x30E0AF0, 0, 316616, 784, 808, 225864, 7280, 7272, 7344, 7360, 7408, 7688,
                7672, 7680, 16, 7784, 0, 7800, 7792, 7992, 0, 832, 0, 8, 16, 72, 152, 160],
    "3.15.2": [0x30F02F0, 0, 346568, 912, 936, 226240, 7272, 7264, 7336, 7352, 7400, 7592,
               7576, 7584, 16, 7736, 0, 7752, 7744, 7944, 0, 888, 0, 8, 16, 72, 80, 88, 96,
               176, 184],
}  # fmt: skip
FREE_THREADED = {
    "3.13.15t": [0x30D0FF0, 1, 328384, 608, 632, 215616, 7272, 7264, 7344, 7400, 7664, 7648,
                 7656, 16, 7760, 0, 7784, 7776, 312, 0, 8, 16, 72, 152, 160],
}  # fmt: skip
# What self-inspection found in the same builds: (interp_ptr, threads_head, thread_id, native)
FOUND = {
    "3.13.0": (632, 7344, 152, 160),
    "3.14.10": (808, 7344, 152, 160),
    "3.15.2": (936, 7336, 176, 184),
}

_keep: List[ctypes.Array[ctypes.c_char]] = []


def at(values: List[int]) -> int:
    """The address of a struct holding the cookie and ``values``."""
    buf = ctypes.create_string_buffer(DEBUG_COOKIE + struct.pack(f"<{len(values)}Q", *values))
    _keep.append(buf)
    return ctypes.addressof(buf)


@pytest.fixture(autouse=True)
def _free() -> Iterator[None]:
    yield
    _keep.clear()


@pytest.mark.parametrize("version", DUMPS)
def test_each_version_is_read_by_its_own_declaration(version: str) -> None:
    values = DUMPS[version]
    off = debug_offsets(at(values), values[0])
    assert off is not None
    interp_ptr, threads_head, thread_id, native = FOUND[version]
    assert off["runtime.interpreters_head"] == interp_ptr
    assert off["interp.threads_head"] == threads_head
    assert (off["tstate.thread_id"], off["tstate.native_thread_id"]) == (thread_id, native)
    assert off["tstate.next"] == 8
    # the GIL struct: interval, last_holder at +8, locked at +16
    gil = off["interp.gil_runtime_state"]
    assert off["interp.gil_runtime_state_holder"] - gil == 8
    assert off["interp.gil_runtime_state_locked"] - gil == 16


def test_a_free_threaded_build_is_read_by_its_versions_declaration() -> None:
    """3.13t's struct has 3.13's fields; its GIL struct starts with int enabled, so the
    interval self-inspection matches is 8 bytes in: holder at +16, locked at +24."""
    values = FREE_THREADED["3.13.15t"]
    off = debug_offsets(at(values), values[0])
    assert off is not None
    assert off["free_threaded"] == 1
    assert off["runtime.interpreters_head"] == 632
    gil = off["interp.gil_runtime_state"]
    assert off["interp.gil_runtime_state_enabled"] == 0  # offsetof(struct, enabled)
    assert off["interp.gil_runtime_state_holder"] - gil == 16
    assert off["interp.gil_runtime_state_locked"] - gil == 24


def test_314_is_not_read_at_313s_positions() -> None:
    """The bug: 3.13's fixed positions on 3.14 took ceval.gil (a pointer's offset, 16) for
    the GIL struct's; 3.14 inserted interp.threads_main before it."""
    values = DUMPS["3.14.10"]
    assert values[14] == 16  # what q[14] read (q[0] being the version)
    off = debug_offsets(at(values), values[0])
    assert off is not None
    assert (off["interp.ceval_gil"], off["interp.gil_runtime_state"]) == (16, 7784)


def test_a_struct_of_another_build_is_refused() -> None:
    values = DUMPS["3.14.10"]
    with pytest.raises(Failed, match="version 0x30e0af0, not 0x30f02f0"):
        debug_offsets(at(values), 0x30F02F0)


def test_a_version_whose_declaration_is_unknown_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = [0x31000F0, *DUMPS["3.15.2"][1:]]  # a 3.16 would declare it anew
    assert debug_offsets(at(values), values[0]) is None
    monkeypatch.delitem(self_inspect.DEBUG_FIELDS, (3, 15))
    assert debug_offsets(at(DUMPS["3.15.2"]), DUMPS["3.15.2"][0]) is None


def test_an_offset_past_its_structs_size_is_refused() -> None:
    values = list(DUMPS["3.15.2"])
    values[-1] = 888  # tstate.native_thread_id at tstate.size: read from the wrong place
    with pytest.raises(Failed, match=r"tstate\.native_thread_id = 888 is past"):
        debug_offsets(at(values), values[0])


def test_no_cookie_is_refused() -> None:
    buf = ctypes.create_string_buffer(b"\0" * 64)
    with pytest.raises(Failed, match="missing"):
        debug_offsets(ctypes.addressof(buf), DUMPS["3.13.0"][0])
