"""Incremental Server-Sent Events parsing and HTTP chunked decoding. Pure:
bytes in, events out, however the bytes were split."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "ChunkedDecoder", "ChunkedError"]

_HEX = re.compile(rb"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class SSEEvent:
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


class ChunkedError(ValueError):
    """The body's chunk framing is broken."""


class ChunkedDecoder:
    """HTTP/1.1 chunked transfer decoding, fed in arbitrary pieces."""

    def __init__(self) -> None:
        self._buf = b""
        self._need = 0  # payload bytes left in the current chunk
        self._crlf = False  # expecting the CRLF after a chunk's payload
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while self._buf and not self.done:
            if self._need:
                take = self._buf[: self._need]
                out += take
                self._need -= len(take)
                self._buf = self._buf[len(take):]
                if not self._need:
                    self._crlf = True
                continue
            if self._crlf:
                if len(self._buf) < 2:
                    break
                if self._buf[:2] != b"\r\n":
                    raise ChunkedError("missing CRLF after a chunk")
                self._buf = self._buf[2:]
                self._crlf = False
                continue
            eol = self._buf.find(b"\r\n")
            if eol < 0:
                if len(self._buf) > 1024:
                    raise ChunkedError("chunk size line too long")
                break
            field = self._buf[:eol].split(b";", 1)[0].strip()
            if not _HEX.fullmatch(field):
                raise ChunkedError(f"bad chunk size {self._buf[:eol][:20]!r}")
            size = int(field, 16)
            self._buf = self._buf[eol + 2:]
            if size == 0:
                self.done = True  # trailers, if any, are ignored
                break
            self._need = size
        return bytes(out)
