"""AMI wire format → frames. Pure: bytes in, frames and leftover bytes out, no I/O.

The stream is a banner line (``Asterisk Call Manager/11.0.0\\r\\n``, *no* blank line after it)
followed by messages that end with a blank line. We accept ``\\r\\n`` and bare ``\\n`` line ends
(both are normalised to ``\\n`` before splitting), decode only whole frames (so a multi-byte
character split across TCP reads survives) with ``errors="replace"``, keep legacy
``Response: Follows`` command output (which may contain blank lines) as one frame with a body,
and skip — logged — frames that are malformed or larger than ``max_frame`` bytes.

Speed matters: a busy PBX sends thousands of events per second and 42 % of them are ``VarSet``.
A :class:`FrameFilter` drops unwanted events by looking at the first line (and, for events such
as ``VarSet``, for a needle substring) *before* any dict is built.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

log = logging.getLogger(__name__)

BANNER_PREFIX = b"Asterisk Call Manager/"
FOLLOWS = "Response: Follows"
END_COMMAND = "--END COMMAND--"
FOLLOWS_BYTES = FOLLOWS.encode()
END_COMMAND_BYTES = END_COMMAND.encode()
DEFAULT_MAX_FRAME = 256 * 1024
DROPPED = b"~"  # held in place of an over-long frame that was dropped before its end

EVENT = "event"
RESPONSE = "response"
BANNER = "banner"


class Frame(NamedTuple):
    """One AMI message. ``headers`` holds the first value of each header; repeats of a header
    (``Variable:``, ``Output:`` …) are kept in order in ``repeated`` — read them with
    :meth:`getall`, so a header's type never depends on how often it appears."""

    kind: str  # "event" | "response" | "banner"
    name: str  # event name, response status (Success/Error/Follows/Goodbye) or banner version
    headers: dict[str, str]
    body: str = ""  # output of a legacy ``Response: Follows`` command
    repeated: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def getall(self, key: str) -> tuple[str, ...]:
        """Every value of a header in arrival order (empty tuple if absent)."""
        first = self.headers.get(key)
        if first is None:
            return ()
        return (first, *(v for k, v in self.repeated if k == key))

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID", "")

    @property
    def timestamp(self) -> float:
        """Asterisk's ``Timestamp`` (epoch seconds), 0.0 when absent (list items, responses)."""
        raw = self.headers.get("Timestamp")
        if not raw:
            return 0.0
        try:
            return float(raw)
        except ValueError:
            return 0.0

    @property
    def is_list_start(self) -> bool:
        return self.kind == RESPONSE and self.headers.get("EventList", "").lower() == "start"

    @property
    def is_list_complete(self) -> bool:
        return self.kind == EVENT and self.headers.get("EventList", "").lower() == "complete"


@dataclass(frozen=True, slots=True)
class FrameFilter:
    """Which events to build, decided on the raw text before any dict exists.

    ``events=None`` keeps every event. ``only_if`` maps an event name to (header, values): the
    event is kept only when that header has one of the values (e.g. ``VarSet`` only for
    ``Variable: MIXMONITOR_FILENAME``) — one ``find``, no dict. Responses and the banner are
    always kept; so are events carrying an ``ActionID`` (list items, OriginateResponse) when
    ``keep_action_replies`` — a connection turns that on only while it awaits answers."""

    events: frozenset[str] | None = None
    only_if: Mapping[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    keep_action_replies: bool = True

    def wants(self, name: str, raw: str) -> bool:
        if self.events is not None and name not in self.events:
            return self.keep_action_replies and "\nActionID: " in raw
        check = self.only_if.get(name)
        return check is None or _header_value(raw, check[0]) in check[1]


def _header_value(raw: str, key: str) -> str:
    marker = f"\n{key}: "
    start = raw.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    end = raw.find("\n", start)
    value = raw[start:] if end < 0 else raw[start:end]
    return value[:-1] if value.endswith("\r") else value


KEEP_ALL = FrameFilter()


def parse(
    buffer: bytes,
    frame_filter: FrameFilter = KEEP_ALL,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> tuple[list[Frame], bytes]:
    """Split ``buffer`` into complete frames; return them and the unconsumed tail.

    Feed the tail back, prefixed to the next read. Any chunking of a stream yields the same
    frames (except oversized frames, which are dropped)."""
    frames: list[Frame] = []
    if buffer.startswith(BANNER_PREFIX):
        newline = buffer.find(b"\n")
        if newline < 0:
            # a peer that never ends its banner line must not grow the buffer without bound
            return frames, _cap_leftover(buffer, max_frame)
        version = buffer[len(BANNER_PREFIX) : newline].decode("utf-8", "replace")
        frames.append(Frame(BANNER, version.strip(), {}))
        buffer = buffer[newline + 1 :]
    held = b""
    # one forward search in C answers for nearly every read: no legacy command output
    may_follow = _may_follow(buffer)
    follows = _last_follows_start(buffer) if may_follow else -1
    if follows >= 0 and not _follows_complete(buffer[follows:]):
        # legacy command output may hold blank lines: wait for its --END COMMAND-- marker
        buffer, held = buffer[:follows], buffer[follows:]
    # Asterisk always writes CRLF; split on it directly (no copy). In a buffer without any
    # CRLF blank line but with bare-LF ones, the complete frames are normalised first
    # (bare-\n peers, tests).
    end = buffer.rfind(b"\r\n\r\n")
    if end >= 0:
        if (
            frame_filter.events is not None
            and not frame_filter.keep_action_replies
            and (not may_follow or buffer.find(FOLLOWS_BYTES, 0, end) < 0)
        ):
            # the firehose: find the frames we keep in place, without copying the buffer or
            # splitting out the frames we drop
            _scan(buffer, end, frames, frame_filter, max_frame)
            return frames, _cap_leftover(buffer[end + 4 :] + held, max_frame)
        eol = b"\r\n"
        complete, leftover = buffer[:end], buffer[end + 4 :]
    elif b"\n\n" in buffer:
        eol = b"\n"
        end = buffer.rfind(b"\n\n")
        # Normalise only the complete frames: the leftover stays as it came, or a CRLF blank
        # line split across two reads ("\r\n\r" | "\n") would become "\n\r\n" and glue the
        # next frame to the one before it.
        complete, leftover = buffer[:end].replace(b"\r\n", b"\n"), buffer[end + 2 :]
        if complete.endswith(b"\r"):
            complete = complete[:-1]
    else:
        return frames, _cap_leftover(buffer + held, max_frame)
    sep = eol + eol
    raws = complete.split(sep)
    if FOLLOWS_BYTES in complete:
        raws = _join_follows(raws, sep)
    _build(raws, frames, frame_filter, max_frame, eol)
    return frames, _cap_leftover(leftover + held, max_frame)


_FOLLOWS_PIVOT = FOLLOWS_BYTES.index(b"F")  # its rarest byte in a real stream
_FOLLOWS_PIVOT_TRIES = 128


def _may_follow(buffer: bytes) -> bool:
    """``FOLLOWS_BYTES in buffer``, sooner: its rare ``F`` is found by ``memchr`` (several
    times faster than the general search for the whole needle, which reads every read of the
    firehose once more), each candidate checked in place. A buffer with more ``F`` than a
    handful (not the firehose) takes the general search past the candidates tried."""
    find = buffer.find
    pivot = _FOLLOWS_PIVOT
    hit = find(b"F", pivot)
    for _ in range(_FOLLOWS_PIVOT_TRIES):
        if hit < 0:
            return False
        if buffer.startswith(FOLLOWS_BYTES, hit - pivot):
            return True
        hit = find(b"F", hit + 1)
    return hit >= 0 and find(FOLLOWS_BYTES, hit - pivot) >= 0


def _last_follows_start(buffer: bytes) -> int:
    """Where the last ``Response: Follows`` *frame* starts (at the start of the buffer or after
    a blank line), or -1. The same words inside a header value — a caller who names himself
    "Response: Follows" — must not hold back every later event waiting for --END COMMAND--."""
    start = -1
    for sep in (b"\r\n\r\n", b"\n\n"):
        found = buffer.rfind(sep + FOLLOWS_BYTES)
        if found >= 0:
            start = max(start, found + len(sep))
    if start < 0 and buffer.startswith(FOLLOWS_BYTES):
        start = 0
    return start


def _follows_complete(tail: bytes) -> bool:
    return END_COMMAND_BYTES + b"\r\n\r\n" in tail or END_COMMAND_BYTES + b"\n\n" in tail


def _cap_leftover(leftover: bytes, max_frame: int) -> bytes:
    # An incomplete frame that is already too big would grow without bound; drop it. The rest
    # of it arrives later, and a read boundary may put "Response: Follows" or "Event: " at
    # its start: keep a byte that cannot start a frame (and the part of a blank line the
    # dropped bytes end with), so that rest is skipped as malformed up to its blank line
    # instead of being taken for a frame.
    if len(leftover) > max_frame:
        log.warning("AMI frame over %d bytes dropped (incomplete)", max_frame)
        ending = leftover[len(leftover.rstrip(b"\r\n")) :]
        return DROPPED + ending[-3:]
    return leftover


def _join_follows(raws: list[bytes], sep: bytes) -> list[bytes]:
    """Glue back the pieces of a ``Response: Follows`` body that contained blank lines."""
    out: list[bytes] = []
    pending: list[bytes] | None = None
    for raw in raws:
        if pending is not None:
            pending.append(raw)
            if END_COMMAND_BYTES in raw:
                out.append(sep.join(pending))
                pending = None
            continue
        stripped = raw.lstrip(b"\r\n")
        if stripped.startswith(FOLLOWS_BYTES) and END_COMMAND_BYTES not in stripped:
            pending = [stripped]
            continue
        out.append(raw)
    if pending is not None:
        out.append(sep.join(pending))
    return out


def _build(
    raws: list[bytes], frames: list[Frame], frame_filter: FrameFilter, max_frame: int, eol: bytes
) -> None:
    """Filter on bytes, decode only the frames we keep (whole, ``errors="replace"``)."""
    events = None if frame_filter.events is None else {e.encode() for e in frame_filter.events}
    keep_replies = frame_filter.keep_action_replies
    # (marker, allowed values) per event, e.g. b"\nVariable: " for VarSet
    checks = {
        name.encode(): (f"\n{key}: ".encode(), {v.encode() for v in values})
        for name, (key, values) in frame_filter.only_if.items()
    }
    text_eol = eol.decode()
    append = frames.append
    if events is not None:
        # Pre-filter in one comprehension: one anchored regex match per frame (in C) keeps
        # wanted events and responses; with replies wanted, frames with an ActionID too. An
        # event kept only for some values of a header (VarSet, Newexten: most of the
        # firehose) must also hold one of them somewhere — one more search in C; the exact
        # test (the header's first occurrence) is made below.
        wanted = _first_line_pattern(
            frame_filter.events or frozenset(), eol, frozenset(frame_filter.only_if)
        ).match
        needed = _value_searches(tuple(frame_filter.only_if.items()), eol)
        if keep_replies:
            raws = [
                r
                for r in raws
                if ((m := wanted(r)) and (m.lastindex is None or needed[m[1]](r)))
                or b"\nActionID: " in r
            ]
        else:
            raws = [
                r for r in raws if (m := wanted(r)) and (m.lastindex is None or needed[m[1]](r))
            ]
    for raw in raws:
        if not raw:
            continue
        if raw[0] in b"\r\n":
            raw = raw.lstrip(b"\r\n")
            if not raw:
                continue
        if raw.startswith(b"Event: "):
            first_eol = raw.find(eol)
            name = raw[7:first_eol] if first_eol > 0 else raw[7:]
            # FrameFilter.wants, inlined: this loop runs for every frame of the firehose. A real
            # event has Timestamp near its top, so that test fails fast for the firehose.
            if events is not None and name not in events:
                if not (keep_replies and b"\nActionID: " in raw):
                    continue
            elif name in checks:
                marker, allowed = checks[name]
                start = raw.find(marker)
                if start < 0:
                    continue
                start += len(marker)
                stop = raw.find(eol, start)
                if (raw[start:stop] if stop >= 0 else raw[start:]) not in allowed:
                    continue
            if len(raw) > max_frame:
                log.warning("AMI frame over %d bytes skipped: %.80r", max_frame, raw)
                continue
            text = raw.decode("utf-8", "replace")
            headers, repeated = _headers(text, text_eol)
            append(Frame(EVENT, headers.get("Event", ""), headers, "", repeated))
        elif raw.startswith(b"Response: "):
            if len(raw) > max_frame:
                log.warning("AMI frame over %d bytes skipped: %.80r", max_frame, raw)
                continue
            text = raw.decode("utf-8", "replace")
            if text.startswith(FOLLOWS):
                append(_follows(text, text_eol))
            else:
                headers, repeated = _headers(text, text_eol)
                append(Frame(RESPONSE, headers.get("Response", ""), headers, "", repeated))
        else:
            log.warning("malformed AMI frame skipped: %.120r", raw)


def _scan(
    buf: bytes, size: int, frames: list[Frame], frame_filter: FrameFilter, max_frame: int
) -> None:
    """``_build`` for the complete frames ``buf[:size]`` of a CRLF stream, a filter on event
    names and no action replies — what the tracker's connection reads nearly all the time —
    with the same frames as the result.

    One regex search in C finds the start of each frame we keep (a response, or one of the
    wanted events, after a blank line and any stray line ends): the frames we drop (most of
    the firehose) are never cut out of the buffer. A frame ends at the next blank line, as
    ``split`` would have cut it. An event kept only for some values of a header (``VarSet``,
    ``Newexten``: a third of the firehose, nearly all dropped) is read up to that header's
    first occurrence by the same search, which skips it when it surely fails (see
    ``_value_lookahead``); the few left are checked here on that occurrence, as ``_build``
    does."""
    first_frame, finder, checks = _scanner(
        frame_filter.events or frozenset(), _only_if_key(frame_filter)
    )
    find = buf.find
    append = frames.append
    new_frame = tuple.__new__
    split, colon_space, once = str.split, _COLON_SPACE, _ONCE
    layouts = _LAYOUTS
    # The first frame follows no blank line (unless the stray line ends before it hold one:
    # then the search below finds it).
    first = first_frame(buf, 0, size)
    if first is not None and find(b"\r\n\r\n", 0, first.start(first.lastindex or 1)) >= 0:
        first = None
    matches = finder(buf, 0, size)
    for match in itertools.chain((first,), matches) if first is not None else matches:
        checked = match.lastindex or 1  # the one group that matched
        start, name_end = match.span(checked)
        end = find(b"\r\n\r\n", name_end, size)
        if end < 0:
            end = size
        if checked != 1:
            marker, needed, allowed = checks[checked]
            if not needed(buf, name_end, end):
                continue  # none of the values anywhere in the frame
            value = find(marker, name_end, end) + len(marker)
            stop = find(b"\r\n", value, end)
            if buf[value : stop if stop >= 0 else end] not in allowed:
                continue
        if end - start > max_frame:
            log.warning("AMI frame over %d bytes skipped: %.80r", max_frame, buf[start:end])
            continue
        text = buf[start:end].decode("utf-8", "replace")
        # The headers: nearly every frame has the very header lines of the last frames of
        # its kind, read at once by their pattern (see _LAYOUTS) — else as _headers reads
        # them, inlined (one call fewer per frame), which teaches the pattern.
        repeated: tuple[tuple[str, str], ...]
        kind = buf[start:name_end]
        layout = layouts.get(kind)
        if layout is not None and (found := layout[1](text)) is not None:
            # the groups are named by the keys: the dict is built in C from the match
            headers = found.groupdict()
            if layout[2]:
                for alias, key in layout[2]:
                    headers[key] = headers.pop(alias)
            repeated = ()
        elif (other := _other_layout(kind, text)) is not None:
            headers, repeated = other, ()
        else:
            lines = text.split("\r\n")
            try:
                headers = dict(map(split, lines, colon_space, once))
            except ValueError:
                headers, repeated = _headers_slow(lines)
            else:
                if len(headers) == len(lines):
                    repeated = ()
                    _learn_layout(kind, headers)
                else:
                    headers, repeated = _headers_slow(lines)
        # Frame(...) without the Python-level __new__ of a NamedTuple: the same tuple
        if buf[start] == 69:  # b"E"
            append(new_frame(Frame, (EVENT, headers.get("Event", ""), headers, "", repeated)))
        else:
            append(new_frame(Frame, (RESPONSE, headers.get("Response", ""), headers, "", repeated)))


# The header lines of a kind of frame ("Event: Newstate", "Response: "), by that first line:
# their keys, and a full match of a frame with just these lines in this order (each "Key: "
# then a value without CR) whose groups are the values. A frame it matches is exactly what
# _headers reads from it — the first ": " of each line ends its key (a key holds no ": "),
# the keys are distinct, nothing repeats — without cutting lines out first. A value is
# ``[^\r]*+`` (one byte compared per character, never given back), so the CRLFs the
# pattern asks for are the frame's only CRs — its lines as split on CRLF, a lone LF staying
# in its value as it does there. A layout gets its pattern once two frames showed it; a
# frame no pattern matches (other headers, a lone CR in a value) is read as before.
#
# Each group is named by its key, so ``groupdict()`` builds the headers in C (half the cost
# of pairing the keys with ``groups()``). A key that cannot name a group (``Cause-txt``,
# ``CID-CallingPres``: not an ASCII identifier) gets an alias, renamed in the dict after.
#
# A kind may come in a few layouts (``DialBegin`` with a caller channel, or none when an
# Originate dials): the first one learnt is tried first (``_LAYOUTS``), a few others after
# it (``_MORE_LAYOUTS``). Bounded: both cleared when full of kinds; a kind's oldest other
# layout leaves for a new one.
Renames = tuple[tuple[str, str], ...]  # (group alias, key) for keys that cannot name a group
Layout = tuple[tuple[str, ...], Callable[[str], re.Match[str] | None], Renames]
_LAYOUTS: dict[bytes, Layout] = {}
_MORE_LAYOUTS: dict[bytes, list[Layout]] = {}
_MAX_LAYOUTS = 256
_MORE_PER_KIND = 3


def _unlearnt(text: str) -> re.Match[str] | None:
    return None  # a layout seen once: no pattern yet


def _other_layout(kind: bytes, text: str) -> dict[str, str] | None:
    """The headers read by the first of the kind's other layouts that matches."""
    for _keys, match, renames in _MORE_LAYOUTS.get(kind, ()):
        found = match(text)
        if found is not None:
            headers = found.groupdict()
            for alias, key in renames:
                headers[key] = headers.pop(alias)
            return headers
    return None


def _learn_layout(kind: bytes, headers: dict[str, str]) -> None:
    # interned: the readers' own "Uniqueid" is then the very key, found at its first probe
    keys = tuple(map(sys.intern, headers))
    known = _LAYOUTS.get(kind)
    if known is None:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
            _MORE_LAYOUTS.clear()
        _LAYOUTS[kind] = (keys, _unlearnt, ())
        return
    if known[0] == keys:
        if known[1] is _unlearnt:
            _LAYOUTS[kind] = (keys, *_layout_pattern(keys))
        return  # else a learnt layout that a value with a lone CR did not match
    more = _MORE_LAYOUTS.setdefault(kind, [])
    for index, (other, match, _renames) in enumerate(more):
        if other == keys:
            if match is _unlearnt:
                learnt: Layout = (keys, *_layout_pattern(keys))
                if known[1] is _unlearnt:  # the first layout, seen once: this one first
                    more[index], _LAYOUTS[kind] = known, learnt
                else:
                    more[index] = learnt
            return
    if len(more) >= _MORE_PER_KIND:
        del more[0]
    more.append((keys, _unlearnt, ()))


@functools.lru_cache(maxsize=128)
def _layout_pattern(
    keys: tuple[str, ...],
) -> tuple[Callable[[str], re.Match[str] | None], Renames]:
    """The full match of a frame with these header lines, each value a group named by its key,
    and the aliases of the keys that cannot name a group (none of them one of the keys)."""
    names: list[str] = []
    renames: list[tuple[str, str]] = []
    for index, key in enumerate(keys):
        if key.isascii() and key.isidentifier():
            names.append(key)
            continue
        alias = f"_{index}"
        while alias in keys:
            alias += "_"
        names.append(alias)
        renames.append((alias, key))
    pattern = "\r\n".join(
        re.escape(key) + f": (?P<{name}>[^\r]*+)" for key, name in zip(keys, names, strict=True)
    )
    return re.compile(pattern).fullmatch, tuple(renames)


def _only_if_key(
    frame_filter: FrameFilter,
) -> tuple[tuple[str, tuple[str, frozenset[str]]], ...]:
    return tuple(sorted(frame_filter.only_if.items()))


ValueCheck = tuple[bytes, Callable[[bytes, int, int], re.Match[bytes] | None], frozenset[bytes]]
Search = Callable[[bytes, int, int], re.Match[bytes] | None]


@functools.lru_cache(maxsize=16)
def _scanner(
    events: frozenset[str], only_if: tuple[tuple[str, tuple[str, frozenset[str]]], ...]
) -> tuple[Search, Callable[[bytes, int, int], Iterator[re.Match[bytes]]], dict[int, ValueCheck]]:
    """For ``_scan``: the match of a frame to keep at the buffer's start, the search for the
    frames to keep after a blank line, and the value checks of the events kept only for some
    values of a header.

    The one group that matches runs from the frame's first byte to the end of its name (its
    first line, a line end after it that is not the frame's end: "Event: X" alone is
    dropped) — or of "Response: ". Group 1 is for frames kept as they are; an event with a
    value check has a group of its own, numbered as its check: (the header's marker, a
    search for an allowed value, the allowed values). That group matches only when the
    frame may pass its check (``_value_lookahead``)."""
    checked = sorted((name, check) for name, check in only_if if name in events)
    plain = sorted(events - {name for name, _check in checked})
    names = _trie([name.encode() for name in plain])
    kept = [b"Response: "]
    if plain:
        kept.append(b"Event: (?:" + names + b")(?=\r\n(?!\r\n))")
    alternatives = [b"(" + b"|".join(kept) + b")"]
    checks: dict[int, ValueCheck] = {}
    for group, (name, (key, values)) in enumerate(checked, start=2):
        marker = f"\n{key}: ".encode()
        allowed = b"|".join(re.escape(v.encode()) for v in sorted(values))
        alternatives.append(
            b"(Event: " + re.escape(name.encode()) + b")" + _value_lookahead(marker, allowed)
        )
        search = re.compile(re.escape(marker) + b"(?:" + allowed + b")(?:\r\n|$)").search
        checks[group] = (marker, search, frozenset(v.encode() for v in values))
    frame = b"[\r\n]*+(?:" + b"|".join(alternatives) + b")"
    return re.compile(frame).match, re.compile(b"\r\n\r\n" + frame).finditer, checks


def _trie(words: list[bytes]) -> bytes:
    """An alternation of ``words`` as a tree of their common beginnings:
    ``Queue(?:Caller(?:Join|Leave)|Member(?:Added|))`` — the engine tries each alternative
    of a group in turn, so a frame start tries a few letters, not every event name. It
    matches exactly the words (an empty tail stands last: a longer word is tried first)."""
    unique = sorted(set(words))
    if len(unique) == 1:
        return re.escape(unique[0])
    tails: dict[bytes, list[bytes]] = {}
    for word in unique:
        if word:
            tails.setdefault(word[:1], []).append(word[1:])
    alternatives = [
        re.escape(head) + (_trie(rest) if len(rest) == 1 else b"(?:" + _trie(rest) + b")")
        for head, rest in tails.items()
    ]
    if b"" in unique:
        alternatives.append(b"")
    return b"|".join(alternatives)


# How far the search for a checked header looks ahead of the event's name: runs of bytes up
# to the header's first byte (``_VALUE_RUN`` each, at most ``_VALUE_RUNS`` more after a byte
# that turned out not to start the header). Past that the frame is handed to ``_scan``.
_VALUE_RUN = 1024
_VALUE_RUNS = 4


def _value_lookahead(marker: bytes, allowed: bytes) -> bytes:
    """After a checked event's name (and its line end): fails — so the frame is never
    matched, never handed to Python — only when the frame surely fails its check.

    The header's first occurrence (``marker``, its LF included) is reached by skipping to the
    next byte that may start it (the engine's fastest loop: ``[^V]*`` for ``Variable``), a
    few times over, to the first ``V`` after a LF that starts the header; the frame fails
    when the value there is not one of ``allowed`` (up to its line end, or the end of the
    complete frames). The skip does not stop at the frame's blank line: a header found past
    it is another frame's, and then this frame has none and fails its check whatever that
    value is — so a bad value there drops it rightly, a good one hands it to ``_scan``,
    which drops it. Not found within the bound (a long frame, many of the header's first
    byte before it): matched, checked by ``_scan``. So a frame is dropped here only when
    that check would drop it, and no frame costs more than the bound (a stream of checked
    events without the header costs a few times its plain search)."""
    key = marker[1:]
    first, rest = re.escape(key[:1]), re.escape(key[1:])
    run = b"[^" + first + b"]{0,%d}+" % _VALUE_RUN
    not_key = b"(?:(?<!\n)" + first + b"|" + first + b"(?!" + rest + b"))"
    reach = run + b"(?:" + not_key + run + b"){0,%d}+" % _VALUE_RUNS
    # where the reach stopped: the header at a line's start (not when the bound stopped it)
    bad_value = b"(?<=\n)" + re.escape(key) + b"(?!(?:" + allowed + b")(?:\r\n|\\Z))"
    return b"(?=\r\n)(?!" + reach + bad_value + b")"


@functools.lru_cache(maxsize=16)
def _first_line_pattern(
    events: frozenset[str], eol: bytes, checked: frozenset[str] = frozenset()
) -> re.Pattern[bytes]:
    """Matches a frame that is a response or one of ``events``; for an event in ``checked``
    (kept only for some header values) group 1 holds its name."""
    names = b"|".join(re.escape(name.encode()) for name in sorted(events - checked))
    alternatives = [b"(?:" + names + b")"] if names else []
    if checked:
        alternatives.append(b"(" + b"|".join(re.escape(n.encode()) for n in sorted(checked)) + b")")
    # stray blank lines before a frame are tolerated, as in the main loop
    return re.compile(
        b"[\r\n]*(?:Response: |Event: (?:" + b"|".join(alternatives) + b")" + re.escape(eol) + b")"
    )


@functools.lru_cache(maxsize=16)
def _value_searches(
    only_if: tuple[tuple[str, tuple[str, frozenset[str]]], ...], eol: bytes
) -> dict[bytes, Callable[[bytes], re.Match[bytes] | None]]:
    """Per checked event name: a search for its header holding one of the allowed values."""
    out: dict[bytes, Callable[[bytes], re.Match[bytes] | None]] = {}
    for name, (key, values) in only_if:
        allowed = b"|".join(re.escape(v.encode()) for v in sorted(values))
        pattern = (
            b"\n" + re.escape(key.encode()) + b": (?:" + allowed + b")(?:" + re.escape(eol) + b"|$)"
        )
        out[name.encode()] = re.compile(pattern).search
    return out


_COLON_SPACE = itertools.repeat(": ")
_ONCE = itertools.repeat(1)


def _headers(raw: str, eol: str) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    lines = raw.split(eol)
    try:
        # fast path, well-formed: every line splits in two at its first ": " (in C: map over
        # str.split; a line without ": " makes dict() raise ValueError, as a list would)
        headers = dict(map(str.split, lines, _COLON_SPACE, _ONCE))
    except ValueError:
        return _headers_slow(lines)
    if len(headers) == len(lines):
        return headers, ()
    return _headers_slow(lines)


def _headers_slow(lines: list[str]) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    headers: dict[str, str] = {}
    repeated: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key:
            continue  # a line without a header name carries nothing we can key on
        if value.startswith(" "):
            value = value[1:]
        key = key.rstrip("\r")
        value = value.rstrip("\r")
        if key in headers:
            repeated.append((key, value))
        else:
            headers[key] = value
    return headers, tuple(repeated)


def _follows(raw: str, eol: str) -> Frame:
    headers: dict[str, str] = {}
    body_lines: list[str] = []
    lines = raw.replace("\r\n", "\n").split("\n")
    in_headers = True
    for line in lines:
        if in_headers:
            key, sep, value = line.partition(": ")
            if sep and key and " " not in key:
                headers.setdefault(key, value)
                continue
            in_headers = False
        body_lines.append(line)
    body = "\n".join(body_lines)
    cut = body.rfind(END_COMMAND)
    if cut >= 0:
        body = body[:cut]
    return Frame(RESPONSE, "Follows", headers, body.rstrip("\n"))
