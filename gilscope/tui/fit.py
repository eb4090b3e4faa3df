"""Making text fit the room it gets: lane labels that still tell threads apart, a header
that sheds its least important parts first, wrapped output, a run's progress bar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

from rich.text import Text

ELLIPSIS = "…"
_MEMBERS = re.compile(r" ×\d+$")  # a shared lane's member count: "job-* ×37"


def elide_middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells, its start and end kept: a command's program and its
    last arguments say more than the middle."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def fit_label(label: str, width: int, siblings: Sequence[str] = ()) -> str:
    """A lane's name in ``width`` cells: whole where it fits, else cut so that the part that
    tells it from ``siblings`` shows: ``…Executor-0_1`` among four ThreadPoolExecutor lanes,
    ``Thread-1 (wor…`` among ``Thread-N (worker)``. A shared lane keeps its ``×N``."""
    if len(label) <= width:
        return label
    if width <= 1:
        return ELLIPSIS[:width]
    match = _MEMBERS.search(label)
    members = match.group(0) if match else ""
    core = label[: len(label) - len(members)]
    room = width - len(members)
    if room < 2:  # too narrow for the count as well: the name's start is all there is
        return label[: width - 1] + ELLIPSIS
    others = {_MEMBERS.sub("", o) for o in siblings if o != label} - {core}
    keep = room - 1
    # The start, if no other name starts the same; else the end, if no other ends the same.
    if not any(o[:keep] == core[:keep] for o in others):
        return core[:keep] + ELLIPSIS + members
    if not any(o[-keep:] == core[-keep:] for o in others):
        return ELLIPSIS + core[-keep:] + members
    # Else a window that ends where this name stops matching the one most like it.
    differs = min(max(_common_prefix(core, o) for o in others), len(core) - 1)
    span = room - 2
    start = max(0, min(differs + 1 - span, len(core) - span))
    return ELLIPSIS + core[start : start + span] + ELLIPSIS + members


@dataclass
class Part:
    """A piece of the header. ``shed``: in which round it goes when the header is too wide
    (0: never). In round ``shrink_round`` it first becomes ``alt`` (a shorter wording) or,
    with ``shrink``, is elided to no fewer than that many cells."""

    text: Text
    shed: int = 0
    shrink: int = 0
    shrink_round: int = 0
    alt: Optional[Text] = None


def fit_parts(parts: Sequence[Part], width: Optional[int]) -> Text:
    """Join ``parts``, shedding the least important first until they fit ``width``:
    round by round, a part shortened or dropped; what is never shed and still does not
    fit is cut at the end."""
    kept = list(parts)
    if width is None:
        return _join(kept)
    rounds = sorted(({p.shed for p in kept} | {p.shrink_round for p in kept}) - {0})
    for r in rounds:
        if _width(kept) <= width:
            break
        # Shorter wordings first, then elisions take only what is still missing.
        for i, p in enumerate(kept):
            if p.shrink_round == r and p.alt is not None and _width(kept) > width:
                kept[i] = Part(p.alt, p.shed)
        for i, p in enumerate(kept):
            excess = _width(kept) - width
            if p.shrink_round == r and p.shrink and excess > 0 and len(p.text) > p.shrink:
                kept[i] = Part(_elide_text(p.text, max(p.shrink, len(p.text) - excess)), p.shed)
        if _width(kept) > width:
            kept = [p for p in kept if p.shed != r]
    # What later rounds made room for comes back, the more important first: a dropped part
    # if it fits whole, an elided one as far as the room allows.
    for whole in sorted(parts, key=lambda q: -max(q.shed, q.shrink_round)):
        slack = width - _width(kept)
        current = next((i for i, q in enumerate(kept) if q.shed == whole.shed), None)
        if not whole.shed or slack <= 0:
            continue
        if current is None and len(whole.text) <= slack:
            at = sum(1 for q in kept if _index(parts, q) < _index(parts, whole))
            kept.insert(at, whole)
        elif current is not None and len(whole.text) - len(kept[current].text) <= slack:
            kept[current] = whole  # its full wording fits again
        elif current is not None and whole.shrink and len(kept[current].text) < len(whole.text):
            size = min(len(whole.text), len(kept[current].text) + slack)
            kept[current] = Part(_elide_text(whole.text, size), whole.shed)
    text = _join(kept)
    text.truncate(width, overflow="ellipsis")
    return text


def _index(parts: Sequence[Part], part: Part) -> int:
    """Where ``part`` (or the part it was shortened from) stands in ``parts``."""
    return next(i for i, q in enumerate(parts) if q is part or (q.shed == part.shed and q.shed))


def _elide_text(text: Text, width: int) -> Text:
    """Middle-elide a one-style piece (the header's command) keeping its style."""
    style = text.spans[0].style if text.spans else text.style
    plain = text.plain
    lead = len(plain) - len(plain.lstrip(" ·"))  # its separator stays whole
    body = elide_middle(plain[lead:], max(1, width - lead))
    return Text(plain[:lead] + body, style=style)


def _width(parts: Sequence[Part]) -> int:
    return sum(len(p.text) for p in parts)


def _join(parts: Sequence[Part]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for p in parts:
        text.append_text(p.text)
    return text


def wrap_tail(lines: Sequence[str], width: int, rows: int, indent: str = "  ") -> List[str]:
    """The last ``rows`` screen lines of ``lines`` hard-wrapped at ``width`` (a log line has
    no spaces to break at, often): continuations indented, so they read as one line."""
    if rows <= 0 or width <= len(indent):
        return []
    out: List[str] = []
    for line in reversed(lines):
        pieces = [line[:width]]
        rest = line[width:]
        step = width - len(indent)
        while rest:
            pieces.append(indent + rest[:step])
            rest = rest[step:]
        out[:0] = pieces
        if len(out) >= rows:
            break
    return out[-rows:]


BAR_EIGHTHS = " ▏▎▍▌▋▊▉"


def progress_bar(fraction: float, width: int) -> str:
    """A bar of ``width`` cells, filled to ``fraction`` in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BAR_EIGHTHS[part] if part else "")).ljust(width)
