"""The journal's append-only file of orders about to be sent: the first leg's write-ahead record in one ``write``.

Paced as orders are, on cold caches, a SQLite commit of a new order costs 0.29 ms at p50, 0.7 at p99 and up to 10 ms
(BENCHMARKS.md, the journal benchmark); the write of one line here ~0.03 ms. Both are equally durable with the journal's
``synchronous=NORMAL``: the bytes are in the OS's page cache when the call returns, so they survive the process being
killed, not the machine losing power.
``Journal`` appends a new order here before it is sent and writes it to SQLite just after; on opening it writes to
SQLite whatever the log holds that SQLite does not (the process died in between), then starts the log over.

One process writes the log at a time: it holds an exclusive ``flock`` on it while open, so a restarted order manager
waits for the process it replaces to be gone before it reads what that process left.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import time
from typing import Any

logger = logging.getLogger(__name__)


class IntentLogError(RuntimeError):
    """The log cannot be opened (held by another process) or read (a damaged record that is not the last)."""


class IntentLog:
    """Records (JSON arrays) appended one line per ``append``, each in one ``write`` to an ``O_APPEND`` file."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout_s: float = 10.0) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self._lock(lock_timeout_s)
        except BaseException:
            os.close(self._fd)
            raise

    def _lock(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if time.monotonic() >= deadline:
                raise IntentLogError(f"intent log {self.path} is still held by another journal after {timeout_s:g} s")
            time.sleep(0.02)

    def append(self, record: list[Any]) -> None:
        """Durable against a crash of this process when this returns."""
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):  # a regular file takes it whole or raises (disk full); never leave half a record
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise OSError(errno.ENOSPC, f"intent log {self.path}: short write")

    def records(self) -> list[list[Any]]:
        """Every complete record in the order written. A last line cut short (the process died inside its write, so
        that order was never sent) is left out; damage anywhere else is an ``IntentLogError`` naming the line."""
        with open(self.path, "rb") as log:
            lines = log.read().split(b"\n")
        records = []
        for number, line in enumerate(lines, start=1):
            is_last = number == len(lines)
            if not line:
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, list) or is_last:  # a complete record ends with a newline
                    raise ValueError("not a complete record")
            except ValueError:
                if is_last:
                    logger.warning("intent log %s: last record cut short, ignored (never sent)", self.path)
                    continue
                raise IntentLogError(f"intent log {self.path}: line {number} is damaged") from None
            records.append(record)
        return records

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def reset(self) -> None:
        """Start over, empty: only once every record is in the journal."""
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1
