"""What every rayarb actor shares: actor names and the description of one deployment (peers: ``actors.peers``).

Kept light (no ccxt, no pandas): every actor process imports it, and what it imports is paid at each actor start.
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from dataclasses import dataclass, field

from actors.transport import ChannelSettings
from execution.error_handler import RetryPolicy
from execution.sharding import shard_symbols
from execution.types import MarketRules

DETECTOR = "detector"
ORDER_MANAGER = "order_manager"
POSITION_TRACKER = "position_tracker"
SUPERVISOR = "supervisor"
EXCHANGE_PREFIX = "exchange:"
HEAD_RESOURCE = "rayarb_head"  # custom resource of the node that holds the journal (see ray_cluster.yaml)
WORKER_RESOURCE = "rayarb_worker"  # custom resource of the nodes that run the hot path, when any node carries it


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """Everything an exchange actor needs to connect. It holds no keys: those are delivered sealed to the actor's own
    process (``actors.credentials``), so this spec can go anywhere (the supervisor, Ray's GCS, reports)."""

    name: str
    exchange_id: str
    url: str | None
    paper: bool
    testnet: bool = False
    simulator: bool = False  # a rayarb simulator venue: no rate limiter in the client

    @property
    def signs(self) -> bool:
        """Orders and balances need the venue's keys (everything but paper trading)."""
        return not self.paper


# The config's sections as the actors read them: plain values with the validated config's fields
# (``orchestration.main_job.actor_sections``), so that no actor process imports pydantic to unpickle its deployment
# (~85 ms of a new process's start and ~9 MiB each).
@dataclass(frozen=True, slots=True)
class StrategySection:
    min_profit_bps: Decimal
    max_book_age_ms: int
    max_notional_per_trade: Decimal
    order_ttl_s: float
    unwind_max_slippage_bps: Decimal
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class RiskSection:
    max_open_exposure: Decimal
    loss_limit: Decimal
    max_one_legged: int


@dataclass(frozen=True, slots=True)
class SupervisorSection:
    heartbeat_period_s: float
    heartbeat_timeout_s: float
    failures_before_restart: int
    exchange_standby: bool
    detector_standby: bool
    order_manager_standby: bool


@dataclass(frozen=True, slots=True)
class PeerFacts:
    """What the supervisor tells an actor it starts about the peers it needs, asked through the supervisor's own
    handles: every venue's market rules (by venue) and the channels of the peers it calls (by the name it calls them
    by: the actor the name led to and where that actor's channel listens). A new process would otherwise make its
    first Ray calls to each of them (a name lookup, and the peer's module imported for its handle: 0.3-0.5 s of an
    order manager's restart). What is missing, or no longer holds, it asks for."""

    rules: dict[str, dict[str, MarketRules]] = field(default_factory=dict)
    channels: dict[str, tuple[str, tuple[str, int]]] = field(default_factory=dict)


STANDBY_SUFFIX = "~2"  # the second actor of a role (supervisor.exchange_standby, detector_standby, ...)


def role_of(name: str) -> str:
    """The role an actor plays (either of a standby pair plays its first one's): ``exchange:a~2`` -> ``exchange:a``."""
    return name.removesuffix(STANDBY_SUFFIX)


def standby_pair(role: str) -> tuple[str, str]:
    """A role's two actors when it has a standby: the first active at the start."""
    return role, role + STANDBY_SUFFIX


def exchange_actor_name(venue: str) -> str:
    """The venue's exchange actor, and the name its callers use for whichever of its actors is active (``Peers``
    routes it to the second one after a failover)."""
    return EXCHANGE_PREFIX + venue


def venue_of(name: str) -> str:
    """The venue of an exchange actor's name (either of its two)."""
    return role_of(name)[len(EXCHANGE_PREFIX):]


def exchange_pair(venue: str) -> tuple[str, str]:
    """A venue's two exchange actors when it has a standby: the first active at the start."""
    return standby_pair(exchange_actor_name(venue))


def detector_actor_name(shard: int, shards: int) -> str:
    """``detector`` when detection is one actor, else ``detector:<shard>`` (detector.shards in the config)."""
    return DETECTOR if shards == 1 else f"{DETECTOR}:{shard}"


def is_detector(name: str) -> bool:
    """A detector shard's actor (its standby too)."""
    return role_of(name) == DETECTOR or name.startswith(DETECTOR + ":")


@dataclass(frozen=True, slots=True)
class Deployment:
    """One run of rayarb: what to connect to, what to trade, and the limits. Handed to every actor."""

    run_id: str
    venues: tuple[VenueSpec, ...]
    symbols: tuple[str, ...]
    strategy: StrategySection
    risk: RiskSection
    supervisor: SupervisorSection
    journal_path: str
    pin_stateful_to_head: bool = False  # place the order manager, tracker, supervisor on the node with HEAD_RESOURCE
    hot_path_on_workers: bool = False  # place exchange actors and detectors on the nodes with WORKER_RESOURCE only
    paper_balances: tuple[tuple[str, Decimal], ...] = ()  # per venue, when venues are paper-traded
    channels: ChannelSettings | None = None  # direct hot-path connections (None: every message goes through Ray)
    realtime_priority: int = 0  # of the hot-path actors' loop threads (actors.hot_path); 0 = normal policy
    cpu_wake_latency_us: int | None = None  # bound asked for while hot-path actors live (actors.hot_path); None = none
    retry: RetryPolicy | None = None  # how the exchange actors retry reads and cancels (None: the config's default)
    detector_shards: int = 1  # detector actors, each detecting on its share of the symbols (execution.sharding)
    metrics_dir: str | None = None  # where every actor writes its metric files (metrics.exporter); None: in-process

    @property
    def venue_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.venues)

    @property
    def detector_names(self) -> tuple[str, ...]:
        """Every detector shard's actor name, shard 0 first."""
        return tuple(detector_actor_name(shard, self.detector_shards) for shard in range(self.detector_shards))

    def detector_symbols(self, name: str) -> tuple[str, ...]:
        """The symbols the detector shard ``name`` (either of its actors) detects on (and the books it is sent)."""
        return shard_symbols(self.symbols, self.detector_shards)[self.detector_names.index(role_of(name))]

    def members(self, role: str) -> tuple[str, ...]:
        """The actors playing ``role`` (an exchange actor's, a detector shard's or the order manager's name): two with a
        standby, the first active at the start. With ``supervisor.exchange_standby`` a signed venue has two exchange
        actors (a paper venue's balances live in its one actor's memory); with ``supervisor.detector_standby`` every
        shard has two; with ``supervisor.order_manager_standby`` the order manager has two."""
        role = role_of(role)
        if role.startswith(EXCHANGE_PREFIX):
            standby = self.supervisor.exchange_standby and next(v for v in self.venues
                                                                if v.name == venue_of(role)).signs
        elif role == ORDER_MANAGER:
            standby = self.supervisor.order_manager_standby
        else:
            standby = is_detector(role) and self.supervisor.detector_standby
        return standby_pair(role) if standby else (role,)

    def exchange_actors(self, venue: str) -> tuple[str, ...]:
        """The venue's exchange actors (``members``)."""
        return self.members(exchange_actor_name(venue))

    @property
    def detector_actors(self) -> tuple[str, ...]:
        """Every detector actor: each shard's, and its standby's with ``supervisor.detector_standby``."""
        return tuple(name for role in self.detector_names for name in self.members(role))

    @property
    def actor_names(self) -> tuple[str, ...]:
        return (tuple(name for v in self.venue_names for name in self.exchange_actors(v))
                + (POSITION_TRACKER, *self.members(ORDER_MANAGER)) + self.detector_actors)


def new_incarnation() -> str:
    """Identifies one process lifetime of an actor; the supervisor rewires an actor whose incarnation changed."""
    return uuid.uuid4().hex[:12]
