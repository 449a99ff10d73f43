"""The driver's side of the keys' path: each venue's keys go to that venue's exchange actor, sealed, and nowhere else.

The driver reads the keys from its environment (``orchestration.config.resolve_credentials``), then takes the key
variables out of the environment it hands on (``forget_key_variables``): Ray's processes, the actors and the local
venues start without them. A ``CredentialCourier`` keeps one long poll open per exchange actor
(``credentials_wanted``); a process that waits for its keys answers with its public key and receives the keys sealed
to it (``actors.credentials``). When the actor is restarted, by Ray or by the supervisor, the poll fails or is answered
by the new process, which asks again: the keys follow every restart as long as the run's driver lives.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

from orchestration.config import Config, Credentials

logger = logging.getLogger(__name__)

# How long an exchange actor holds a poll that has nothing to ask, and how long on top of it the driver waits for the
# answer. A poll to a process that goes silent (its host gone without closing its connections) is neither answered
# nor refused: it is given up after both and asked again, of the new process Ray starts for the actor elsewhere. With
# 20 s and 10 s the new process of a silent node's exchange actor waited up to 30 s for its keys, and its venue with it.
LONG_POLL_S = 2.0
POLL_MARGIN_S = 2.0
CALL_TIMEOUT_S = 10.0  # handing the sealed keys over
# After a failed poll (actor not created yet, restarting, gone). A restarted exchange actor waits for its keys before
# anything else: a poll every 0.05 s of a restarting actor (each fails at once) hands them over within 0.05 s of its
# new process answering (0.2 s: up to 0.14 s of its start waiting, bench_recovery's start timeline).
RETRY_S = 0.05


def forget_key_variables(config: Config | None, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove the variables that hold the venues' keys from ``environ`` (this process's environment: whatever this
    process starts from now on inherits it). Returns the names removed."""
    environ = os.environ if environ is None else environ
    if config is None:
        return []
    names = [name for venue in config.venues
             for name in (venue.api_key_env, venue.secret_env, venue.passphrase_env) if name]
    removed = [name for name in names if environ.pop(name, None) is not None]
    return removed


class CredentialCourier:
    """Delivers ``credentials`` (venue name -> keys) to the exchange actors ``actor_names(venue)`` (a venue's actor,
    and its standby) for as long as it runs. ``delivered`` counts deliveries per venue (one per exchange-actor
    process)."""

    def __init__(self, credentials: Mapping[str, Credentials], actor_names: Any, namespace: str) -> None:
        self._credentials = dict(credentials)
        self._actor_names = actor_names
        self._namespace = namespace
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.delivered: dict[str, int] = {venue: 0 for venue in self._credentials}

    def start(self) -> None:
        for venue in self._credentials:
            for name in self._actor_names(venue):
                thread = threading.Thread(target=self._serve, args=(venue, name), name=f"credentials:{name}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def _serve(self, venue: str, name: str) -> None:
        import ray

        from actors.credentials import seal

        while not self._stop.is_set():
            try:
                actor = ray.get_actor(name, namespace=self._namespace)
                public_key = ray.get(actor.credentials_wanted.remote(LONG_POLL_S), timeout=LONG_POLL_S + POLL_MARGIN_S)
                if public_key is None:
                    continue
                sealed = seal(public_key, self._credentials[venue])
                ray.get(actor.provide_credentials.remote(sealed), timeout=CALL_TIMEOUT_S)
            except Exception as exc:  # not created yet, restarting, killed: ask the next process
                logger.debug("credentials for %s not delivered yet: %s", name, type(exc).__name__)
                self._stop.wait(RETRY_S)
                continue
            with self._lock:
                self.delivered[venue] += 1
            logger.info("keys of %s delivered to %s", venue, name)
