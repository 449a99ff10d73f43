"""Broken answers of a simulated venue, free of any dialect: how a REST answer is made malformed (``Faults.malformed``)
and how a book is made to lie (``Faults.book_lie``). Pure functions of an answer and the dialect's ``ReplyShape``;
the server (``simulator.core.server``) decides when, by consuming the faults' counters.

Malformed answers (``MALFORMED_KINDS``):
- ``garbage_json``: the status is kept, the body is not JSON (``application/json`` all the same);
- ``html_error``: HTTP 502 with an nginx-like HTML page, as a load balancer in front of a venue answers;
- ``truncated``: the JSON body cut in half (``Content-Length`` is the cut body's: the connection is fine);
- ``missing_fields``: the dialect's answer without its required fields (``ReplyShape.required_fields``, at any depth);
- ``wrong_types``: every number (and numeric string) becomes a list or an object, alternately;
- ``unknown_status``: every order in the answer (a dict with the dialect's order-id key) has a status that is not one
  of the dialect's (``ReplyShape.unknown_status``).

Book lies (``BOOK_LIES``), on the first book of an answer or push (a dict with ``bids``/``asks`` or ``b``/``a``):
``crossed`` adds a bid 1 % above and an ask 1 % below the book's first price, so the best bid is above the best ask;
``negative`` makes the first level's price negative; ``nan`` makes it ``NaN``. The engine's book is untouched: only the
client is lied to.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
GARBAGE = b'{"code": 0, "data": [{"id": 1,, "px": "6\x7f0000" ]] <!-- upstream reset -->'


@dataclass(frozen=True, slots=True)
class ReplyShape:
    """What a dialect's answers look like, for breaking them: the fields an answer cannot do without, the key of an
    order's id and of its status, a status the dialect does not have, and envelope keys ``wrong_types`` leaves
    alone."""

    required_fields: frozenset[str]
    order_id_key: str
    status_key: str
    unknown_status: str
    envelope_keys: frozenset[str] = frozenset()


def malformed(kind: str, status: int, body: bytes, shape: ReplyShape) -> tuple[int, bytes, str]:
    """(HTTP status, body, content type) of the answer ``status``/``body`` broken the way ``kind`` says."""
    if kind == "garbage_json":
        return status, GARBAGE, "application/json"
    if kind == "html_error":
        return 502, NGINX_502, "text/html"
    if kind == "truncated":
        return status, body[:len(body) // 2], "application/json"
    try:
        answer = json.loads(body)
    except ValueError:  # not JSON to begin with: cut it instead
        return status, body[:len(body) // 2], "application/json"
    if kind == "missing_fields":
        answer = _without(answer, shape.required_fields)
    elif kind == "wrong_types":
        answer = _wrong_types(answer, shape.envelope_keys, [0], top=True)
    elif kind == "unknown_status":
        answer = _unknown_status(answer, shape)
    else:  # pragma: no cover - Faults admits only MALFORMED_KINDS
        raise ValueError(f"unknown malformed kind {kind!r}")
    return status, json.dumps(answer, separators=(",", ":")).encode(), "application/json"


def _without(value: Any, fields: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        return [_without(v, fields) for v in value]
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str) and value:
        try:
            Decimal(value)
            return True
        except InvalidOperation:
            return False
    return False


def _wrong_types(value: Any, envelope: frozenset[str], turn: list[int], top: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: (v if top and k in envelope else _wrong_types(v, envelope, turn)) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrong_types(v, envelope, turn) for v in value]
    if _is_number(value):
        turn[0] += 1
        return [value] if turn[0] % 2 else {"value": value}
    return value


def _unknown_status(value: Any, shape: ReplyShape) -> Any:
    if isinstance(value, dict):
        out = {k: _unknown_status(v, shape) for k, v in value.items()}
        if shape.order_id_key in out:
            out[shape.status_key] = shape.unknown_status
        return out
    if isinstance(value, list):
        return [_unknown_status(v, shape) for v in value]
    return value


# --- book lies ----------------------------------------------------------------------------------------------------
def lying_book(answer: Any, lie: str) -> Any:
    """``answer`` (a depth answer or push, parsed JSON) with its first book lying the way ``lie`` says."""
    book = _first_book(answer)
    if book is None:
        return answer
    bid_key, ask_key = ("bids", "asks") if "bids" in book else ("b", "a")
    bids, asks = list(book[bid_key]), list(book[ask_key])
    first = (bids or asks or [None])[0]
    if not isinstance(first, list) or len(first) < 2:
        return answer
    if lie == "crossed":
        price = Decimal(str(first[0]))
        exponent = Decimal(str(first[0])).as_tuple().exponent
        step = Decimal(1).scaleb(exponent) if isinstance(exponent, int) and exponent < 0 else Decimal(1)
        high = (price * Decimal("1.01")).quantize(step)
        low = (price * Decimal("0.99")).quantize(step)
        bids.insert(0, [str(high), first[1], *first[2:]])
        asks.insert(0, [str(low), first[1], *first[2:]])
    elif lie in ("negative", "nan"):
        side = bids if bids else asks
        side[0] = ["-" + str(first[0]).lstrip("-") if lie == "negative" else "NaN", *first[1:]]
    book[bid_key], book[ask_key] = bids, asks
    return answer


def _first_book(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if isinstance(value.get("bids"), list) and isinstance(value.get("asks"), list):
            return value
        if isinstance(value.get("b"), list) and isinstance(value.get("a"), list):
            return value
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        found = _first_book(child)
        if found is not None:
            return found
    return None
