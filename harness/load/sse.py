"""Incremental Server-Sent Events parsing. Pure: bytes in, events out,
however the bytes were split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["SSEEvent", "SSEParser"]

class SSEEvent(NamedTuple):
    """One dispatched event (a named tuple: built once per token on the load generator)."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """The WHATWG event-stream rules that matter for OpenAI streams: lines end
    with LF, CRLF or CR; `data:` lines of one event join with LF; a blank line
    ends an event; lines starting with ':' are comments."""

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the LF of a CRLF split across two reads
        self._skip_lf = False
        self._buf += chunk
        events: list[SSEEvent] = []
        while True:
            lf, cr = self._buf.find(b"\n"), self._buf.find(b"\r")
            if lf < 0 and cr < 0:
                return events
            cut = lf if cr < 0 else cr if lf < 0 else min(lf, cr)
            line = self._buf[:cut].decode("utf-8", errors="replace")
            if self._buf[cut] == 13:  # CR: a line end by itself, or the first half of CRLF
                if cut + 1 == len(self._buf):
                    self._skip_lf = True
                    skip = 1
                else:
                    skip = 2 if self._buf[cut + 1] == 10 else 1
            else:
                skip = 1
            self._buf = self._buf[cut + skip:]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def feed_line(self, line: bytes) -> Sequence[SSEEvent]:
        """One line as `readline(b"\\n")` returns it: the fast path of `feed`
        for LF / CRLF streams (one decode, no buffering); anything else
        (a CR-only stream, the unterminated tail) goes through `feed`."""
        if self._buf or self._skip_lf or line[-1:] != b"\n":
            return self.feed(line)
        body = line[:-2] if line[-2:-1] == b"\r" else line[:-1]
        if b"\r" in body:
            return self.feed(line)
        if body.startswith(b"data: "):  # nearly every line of an OpenAI stream
            self._data.append(body[6:].decode("utf-8", errors="replace"))
            return ()
        event = self._line(body.decode("utf-8", errors="replace"))
        return () if event is None else (event,)

    def feed_event(self, block: bytes) -> Sequence[SSEEvent]:
        """One event block as `readline(b"\\n\\n")` (or `b"\\r\\n\\r\\n"`) returns
        it: a single `data:` line is decoded at once; anything else goes
        through `feed`."""
        data = self.data_of(block)
        if data is not None:
            return (SSEEvent(data.decode("utf-8", errors="replace"), "message", self._id),)
        return self.feed(block)

    def data_of(self, block: bytes) -> bytes | None:
        """The data of `block`, undecoded, when the block is one whole event
        of a single `data:` line and the parser holds nothing (nearly every
        event of an OpenAI stream: the load generator's fast path, no decode
        and no event object); None for anything else, which `feed_event` takes."""
        if block[:6] != b"data: " or self._data or self._event or self._buf or self._skip_lf:
            return None
        if block[-2:] == b"\n\n":
            body = block[6:-2]
        elif block[-4:] == b"\r\n\r\n":
            body = block[6:-4]
        else:
            return None
        return None if b"\n" in body or b"\r" in body else body

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            ev = SSEEvent("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return ev
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        return None

    @property
    def pending(self) -> bool:
        """True when a started event was never terminated (a cut stream)."""
        return bool(self._data) or bool(self._buf.strip())
