"""benchmarks/bench_recovery.py at a tiny size: it runs end to end and records sane figures (it cannot rot)."""
import json

import pytest

from benchmarks import bench_recovery

PHASES = ("--kills", "--standby-kills", "--hangs", "--node-losses", "--standby-node-losses", "--silent-node-losses",
          "--standby-silent-node-losses")


def run_benchmark(tmp_path, *args: str) -> tuple[dict, dict]:
    """bench_recovery with every phase off but those ``args`` ask for; its result, and its recorded figures by name."""
    results = tmp_path / "results.json"
    off = [word for phase in PHASES if phase not in args for word in (phase, "0")]
    result = bench_recovery.main([*off, *args, "--results", str(results)])
    return result, {f["name"]: f for f in json.loads(results.read_text())["benchmarks"]["recovery"]["figures"]}


@pytest.mark.ray
@pytest.mark.slow  # two whole runs and five kills: ~110 s
def test_the_recovery_benchmark_records_kill_to_next_order(tmp_path):
    result, figures = run_benchmark(tmp_path, "--kills", "1", "--types", "exchange,order_manager", "--standby-kills",
                                    "1", "--idle", "5")
    assert [k["type"] for k in result["kills"]] == ["exchange", "order_manager", *bench_recovery.PAIRED]
    for kind in ("exchange", "order_manager"):
        p50 = figures[f"{kind} killed -> next order p50 (1 kills)"]
        assert p50["unit"] == "s" and 0 < p50["value"] < bench_recovery.RECOVERY_TIMEOUT_S
        assert 0 < figures[f"{kind} killed -> its new process answers p50"]["value"] < bench_recovery.RECOVERY_TIMEOUT_S
        kill = next(k for k in result["kills"] if k["type"] == kind)  # the market's part: rewired -> next order
        wait = figures[f"{kind} killed: rewired -> next order p50 (the market's next crossing)"]["value"]
        assert wait == round(max(0.0, kill["to_next_order_s"] - kill["rewired_s"]), 3) < p50["value"]
    assert result["kills"][0]["venue"] == "alpha"
    # where the order manager's restart went: its new process's start-up, step by step, and the supervisor's rewiring
    steps = next(k for k in result["kills"] if k["type"] == "order_manager")["steps_s"]
    assert (0 < steps["constructed"] <= steps["start called"] <= steps["journal opened"] <= steps["risk rebuilt"]
            <= steps["started"] <= steps["reconciled"] <= steps["supervisor rewired"] + 0.1), steps
    standby = result["kills"][2]  # the active exchange actor killed, its standby on: taken over before the next order
    assert (standby["name"], standby["venue"]) == ("exchange:alpha", "alpha")
    late = 5 * bench_recovery.FOLLOW_S  # a takeover is seen by polling, between Ray calls; the next order exactly
    assert 0 < standby["taken_over_s"] <= standby["to_next_order_s"] + late < bench_recovery.RECOVERY_TIMEOUT_S
    assert figures[f"{bench_recovery.WITH_STANDBY} killed -> the standby has taken over p50"]["value"] == \
        round(standby["taken_over_s"], 3)
    detector = result["kills"][3]  # the active detector killed: its standby detecting before the next order
    assert (detector["name"], detector["venue"]) == ("detector", None)
    assert 0 < detector["taken_over_s"] <= detector["to_next_order_s"] + late < bench_recovery.RECOVERY_TIMEOUT_S
    manager = result["kills"][4]  # the active order manager killed: its standby has the orders before the next one
    assert (manager["name"], manager["venue"]) == ("order_manager", None)
    assert 0 < manager["taken_over_s"] <= manager["to_next_order_s"] + late < bench_recovery.RECOVERY_TIMEOUT_S
    # the market's own wait, from each moment with nothing killed: the baseline of the kills' next order
    waits = result["market_waits_s"]
    assert waits["anywhere"] and all(0 < w < 10 for w in waits["anywhere"] + waits["venue"])
    assert min(waits["venue"]) >= 0 and max(waits["venue"]) >= max(waits["anywhere"])
    market = next(f for name, f in figures.items() if name.startswith("nothing killed: a moment -> next order to a given"))
    assert figures["exchange killed -> next order p50 (1 kills)"]["baseline"] == market["value"] > 0
    floor = figures["baseline: an empty actor killed -> its new process answers p50 (1 kills)"]  # Ray's restart alone
    assert floor["unit"] == "s" and 0 < floor["value"] < bench_recovery.RECOVERY_TIMEOUT_S


@pytest.mark.ray
@pytest.mark.slow  # two whole runs, six hangs: ~120 s
def test_the_recovery_benchmark_records_a_hung_actor_to_next_order(tmp_path):
    """An actor's process stopped (SIGSTOP): the supervisor's missed heartbeats find it and replace it (with a standby,
    the standby takes over); trading comes back, and the stopped process does not outlive its recovery."""
    result, figures = run_benchmark(tmp_path, "--hangs", "1", "--idle", "5")
    hung = [kind + bench_recovery.HUNG for kind in (*bench_recovery.HOT_PATH, *bench_recovery.PAIRED)]
    assert [k["type"] for k in result["kills"]] == hung
    for hang in result["kills"]:
        assert 0 < hang["back_s"] <= hang["rewired_s"] < bench_recovery.RECOVERY_TIMEOUT_S, hang
        assert 0 < hang["to_next_order_s"] < bench_recovery.RECOVERY_TIMEOUT_S, hang
        assert "stalled" not in hang
    for kind in hung:
        p50 = figures[f"{kind} -> next order p50 (1 hangs)"]
        assert p50["value"] == round(next(k for k in result["kills"] if k["type"] == kind)["to_next_order_s"], 3)
    late = 5 * bench_recovery.FOLLOW_S
    for standby in result["kills"][3:]:  # the standby took over before the hung actor's new process was up
        assert 0 < standby["taken_over_s"] <= standby["to_next_order_s"] + late, standby
        assert standby["taken_over_s"] < standby["back_s"], standby


@pytest.mark.ray
@pytest.mark.cluster
@pytest.mark.slow  # a cluster, a run and one node lost: ~60 s
def test_the_recovery_benchmark_records_node_loss_to_next_order(tmp_path):
    result, figures = run_benchmark(tmp_path, "--node-losses", "1")
    losses = result["losses"]
    # losses go on until one stopped trading (a worker holding none of the actors trading needs measures nothing)
    assert [x["stopped"] for x in losses] == [False] * (len(losses) - 1) + [True] and len(losses) <= 3, losses
    for loss in losses:
        # what it stopped: every venue's orders with the detector or the order manager, else its exchange actors' venues
        assert loss["stopped"] == any(n.startswith("exchange:") or n in ("detector", "order_manager")
                                      for n in loss["moved"])
        assert {v for v in loss["needs"] if v} == {n.split(":", 1)[1] for n in loss["moved"]
                                                   if n.startswith("exchange:")}
    label = "with an exchange actor, the detector or the order manager on it"
    p50 = figures[f"worker node lost {label} -> next order p50 (1 of {len(losses)} losses)"]
    assert p50["unit"] == "s" and 0 < p50["value"] < bench_recovery.RECOVERY_TIMEOUT_S
    # where the loss's time went: Ray declares the node dead, restarts what it held elsewhere, the supervisor rewires
    stopped = losses[-1]
    assert 0 < stopped["declared_dead_s"] <= stopped["back_s"] <= stopped["rewired_s"] < p50["value"] + 1
    dead = figures["worker node lost -> Ray declared the node dead p50"]
    assert dead["value"] == round(stopped["declared_dead_s"], 3)
    assert "worker node lost -> supervisor has rewired them p50" in figures
    # each lost exchange actor's restart, step by step: its new process built, asked to start, started, rewired
    exchanges = [n for n in stopped["moved"] if n.startswith("exchange:")]
    for name in exchanges:
        steps = stopped["steps_s"][name]
        assert (stopped["declared_dead_s"] <= steps["constructed"] <= steps["start called"] <= steps["started"]
                <= steps["supervisor rewired"] <= stopped["rewired_s"] + 0.1), (name, steps)
    if exchanges:
        started = figures["worker node lost -> every new exchange actor started (ccxt's clients, markets, fees) p50"]
        assert started["value"] == round(max(stopped["steps_s"][n]["started"] for n in exchanges), 3)


@pytest.mark.ray
@pytest.mark.cluster
@pytest.mark.slow  # a cluster, a run and one node silenced: ~60 s
def test_the_recovery_benchmark_records_a_silenced_node_to_next_order(tmp_path):
    """A worker node whose every process is stopped (its connections open, nothing answering): the same end points as a
    lost node's, reported apart as "silenced"; trading comes back where it stopped."""
    result, figures = run_benchmark(tmp_path, "--silent-node-losses", "1")
    losses = result["losses"]
    assert all(x["silent"] and not x["standby"] for x in losses) and losses[-1]["stopped"], losses
    label = "with an exchange actor, the detector or the order manager on it"
    p50 = figures[f"worker node silenced {label} -> next order p50 (1 of {len(losses)} losses)"]
    assert 0 < p50["value"] < bench_recovery.RECOVERY_TIMEOUT_S
    stopped = losses[-1]
    assert 0 < stopped["declared_dead_s"] <= stopped["back_s"] <= stopped["rewired_s"] < p50["value"] + 1
    assert figures["worker node silenced -> Ray declared the node dead p50"]["value"] == round(
        stopped["declared_dead_s"], 3)

