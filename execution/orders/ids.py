"""Client order ids, made locally before anything is sent: ``ClientOrderIdFactory`` (unique across processes and
restarts, letters and digits only: valid on every dialect, execution.api.dialects.PORTABLE_CLIENT_ORDER_ID) and
``is_valid_client_order_id`` (what a caller may name: Binance's alphabet; each venue's own rule is checked where the
order is built, ``execution.api.binance_api``)."""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import socket
import time
from typing import Any, Callable

CLIENT_ORDER_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def is_valid_client_order_id(value: Any) -> bool:
    return isinstance(value, str) and CLIENT_ORDER_ID_RE.fullmatch(value) is not None


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits))


class ClientOrderIdFactory:
    """Client order ids: ``prefix`` + 9 chars of time (ms, base 36) + 8 chars of process token + 6 chars of counter.

    The token hashes host name, pid and 16 random bytes, drawn afresh in each process (also after a fork), so two
    processes — or one process before and after a restart — never share it; within one process the counter and the
    time make ids distinct. At most 8 + 9 + 8 + 6 = 31 chars of [a-z0-9], valid for Binance (<= 36, [.A-Z:/a-z0-9_-])
    and OKX (<= 32 letters and digits).
    The prefix tells rayarb's orders apart from others on the same account.
    """

    def __init__(self, prefix: str = "rx", *, clock: Callable[[], float] = time.time) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,8}", prefix):
            raise ValueError(f"client order id prefix must be 1-8 chars of [a-z0-9], got {prefix!r}")
        self.prefix = prefix
        self._clock = clock
        self._counter = itertools.count(1)
        self._pid = -1
        self._token = ""

    def _process_token(self) -> str:
        pid = os.getpid()
        if pid != self._pid:  # first use, or we are a forked child
            seed = f"{socket.gethostname()}|{pid}|".encode() + os.urandom(16)
            self._token = _base36(int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big"), 8)
            self._pid = pid
        return self._token

    def next(self) -> str:
        millis = int(self._clock() * 1000)
        return f"{self.prefix}{_base36(millis, 9)}{self._process_token()}{_base36(next(self._counter), 6)}"

    __call__ = next

    def owns(self, client_order_id: str) -> bool:
        """Whether an id has this factory's shape and prefix (an order rayarb placed, for reconciliation)."""
        return (client_order_id.startswith(self.prefix) and len(client_order_id) == len(self.prefix) + 23
                and client_order_id[len(self.prefix):].isalnum())
