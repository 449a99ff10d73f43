"""A deployment's actor names: with supervisor.exchange_standby every signed venue has two exchange actors, a paper
venue one (its balances live in its one process); with supervisor.detector_standby every detector shard has two."""
from prometheus_client import CollectorRegistry

from actors.common import Deployment, VenueSpec, exchange_pair, is_detector, role_of, venue_of
from metrics.definitions import RayarbMetrics
from orchestration.config import parse_config
from orchestration.main_job import actor_sections


VENUES = {"alpha": {"exchange": "binance"}, "beta": {"exchange": "okx"}}


def deployment(standby: bool, detector_standby: bool = False, shards: int = 1) -> Deployment:
    venues = (VenueSpec("alpha", "binance", "http://127.0.0.1:1", paper=False),
              VenueSpec("beta", "okx", "http://127.0.0.1:2", paper=True))
    config = parse_config({"venues": VENUES,
                           "supervisor": {"exchange_standby": standby, "detector_standby": detector_standby}})
    return Deployment(run_id="r", venues=venues, symbols=("ETH/USDT", "BTC/USDT"), journal_path="journal.sqlite",
                      detector_shards=shards, **actor_sections(config))


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
    metrics.init_labels(["alpha", "beta"], ["ETH/USDT"], standby_roles=["exchange:alpha"])
    actors = metrics.label_sets()["actor"]
    assert set(exchange_pair("alpha")) <= set(actors) and "exchange:beta~2" not in actors


def test_every_detector_shard_has_a_standby_only_when_asked_and_both_detect_on_the_shards_symbols():
    assert deployment(False).detector_actors == ("detector",)
    one = deployment(False, detector_standby=True)
    assert one.detector_actors == one.members("detector") == ("detector", "detector~2")
    assert one.actor_names[-2:] == ("detector", "detector~2") and one.exchange_actors("alpha") == ("exchange:alpha",)
    two = deployment(True, detector_standby=True, shards=2)
    assert two.detector_names == ("detector:0", "detector:1")
    assert two.detector_actors == ("detector:0", "detector:0~2", "detector:1", "detector:1~2")
    assert all(is_detector(name) for name in two.detector_actors) and not is_detector("exchange:alpha~2")
    assert [two.detector_symbols(name) for name in two.detector_actors[2:]] == [two.detector_symbols("detector:1")] * 2
    assert role_of("detector:1~2") == "detector:1" and two.members("detector:1~2") == ("detector:1", "detector:1~2")
    metrics = RayarbMetrics(CollectorRegistry())
    metrics.init_labels(["alpha", "beta"], ["ETH/USDT"], 2,
                        standby_roles=[role_of(n) for n in two.actor_names if n != role_of(n)])
    assert set(two.detector_actors) | set(exchange_pair("alpha")) <= set(metrics.label_sets()["actor"])
