"""A deployment's actor names: with supervisor.exchange_standby every signed venue has two exchange actors, a paper
venue one (its balances live in its one process)."""
from prometheus_client import CollectorRegistry

from actors.common import Deployment, VenueSpec, exchange_pair, venue_of
from metrics.definitions import RayarbMetrics
from orchestration.config import RiskConfig, StrategyConfig, SupervisorConfig


def deployment(standby: bool) -> Deployment:
    venues = (VenueSpec("alpha", "binance", "http://127.0.0.1:1", paper=False),
              VenueSpec("beta", "okx", "http://127.0.0.1:2", paper=True))
    return Deployment(run_id="r", venues=venues, symbols=("ETH/USDT",), strategy=StrategyConfig(), risk=RiskConfig(),
                      supervisor=SupervisorConfig(exchange_standby=standby), journal_path="journal.sqlite")


def test_a_signed_venue_has_a_standby_exchange_actor_only_when_asked_and_a_paper_venue_never():
    assert deployment(False).actor_names == ("exchange:alpha", "exchange:beta", "position_tracker", "order_manager",
                                             "detector")
    with_standby = deployment(True)
    assert with_standby.exchange_actors("alpha") == exchange_pair("alpha") == ("exchange:alpha", "exchange:alpha~2")
    assert with_standby.exchange_actors("beta") == ("exchange:beta",)
    assert with_standby.actor_names[:3] == ("exchange:alpha", "exchange:alpha~2", "exchange:beta")
    assert [venue_of(name) for name in with_standby.actor_names[:3]] == ["alpha", "alpha", "beta"]


def test_the_supervisors_metrics_name_a_standby_exchange_actor_as_itself():
    metrics = RayarbMetrics(CollectorRegistry())
    metrics.init_labels(["alpha", "beta"], ["ETH/USDT"], standby_exchanges=["alpha"])
    actors = metrics.label_sets()["actor"]
    assert set(exchange_pair("alpha")) <= set(actors) and "exchange:beta~2" not in actors
