"""The chaos campaign's schedule: the same seed gives the same faults; every kind at least once; targets and times
from the seed; unknown kinds refused in one line. And the invariants on hand-made records."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from execution.types import OrderStatus
from orchestration.chaos.injectors import Applied
from orchestration.chaos.invariants import Records, check_all
from orchestration.chaos.schedule import (ALL_KINDS, SYSTEM_FAULTS, VENUE_FAULTS, Fault, build_schedule,
                                          kinds_for_nodes, parse_kinds)
from orchestration.config import UserError

VENUES = ("alpha", "beta", "gamma")


def test_the_same_seed_gives_the_same_faults_and_another_seed_others():
    one = build_schedule(7, 600, ALL_KINDS, VENUES)
    assert one == build_schedule(7, 600, ALL_KINDS, VENUES)
    assert one != build_schedule(8, 600, ALL_KINDS, VENUES)


def test_every_kind_at_least_once_in_time_order_with_venue_targets():
    faults = build_schedule(3, 600, ALL_KINDS, VENUES, min_gap_s=6)
    assert {f.kind for f in faults} == set(ALL_KINDS)
    assert len(faults) == 100  # one per 6 s of 600 s
    assert [f.at_s for f in faults] == sorted(f.at_s for f in faults)
    for f in faults:
        if f.kind in VENUE_FAULTS or f.kind in ("sigkill_exchange", "raykill_exchange", "hung_actor"):
            assert f.target in VENUES
        else:
            assert f.target == ""


def test_a_short_schedule_is_every_kind_once():
    faults = build_schedule(1, 0, ("venue_5xx", "kill_switch"), VENUES, min_gap_s=0.5)
    assert sorted(f.kind for f in faults) == ["kill_switch", "venue_5xx"]


def test_fault_kinds_are_parsed_and_unknown_ones_refused():
    assert parse_kinds(None) == ALL_KINDS and parse_kinds("all") == ALL_KINDS
    assert parse_kinds("venue_5xx, kill_switch,venue_5xx") == ("venue_5xx", "kill_switch")
    with pytest.raises(UserError, match="unknown fault kind nope"):
        parse_kinds("venue_5xx,nope")
    assert parse_kinds("none") == () and build_schedule(1, 600.0, (), VENUES) == ()  # load alone (--load)


def test_a_load_campaign_quotes_every_load_symbol_on_the_campaigns_venues_and_counts_books_per_second():
    from orchestration.chaos.campaign import (LOAD_SYMBOLS, LOAD_UPDATE_HZ, ChaosOptions, _books_per_second,
                                              _load_sim_config, command_line)

    options = ChaosOptions(duration_s=600, kinds=(), load=True)
    config = _load_sim_config(options)  # the venues' config, nothing started
    assert [(v["name"], v.get("dialect", "binance")) for v in config["venues"]] == [
        ("alpha", "binance"), ("beta", "okx"), ("gamma", "binance")]
    assert len(config["symbols"]) == LOAD_SYMBOLS and config["market"]["update_hz"] == LOAD_UPDATE_HZ
    assert command_line(options) == "rayarb chaos --seed 1 --duration 600 --faults none --load"
    samples = [{"t": 0.0, "actor": "exchange:alpha", "books": 100}, {"t": 10.0, "actor": "exchange:alpha", "books": 600},
               {"t": 12.0, "actor": "exchange:alpha", "books": 5},  # restarted: counts again from 0
               {"t": 20.0, "actor": "exchange:alpha", "books": 305}, {"t": 0.0, "actor": "exchange:beta", "books": 0},
               {"t": 20.0, "actor": "exchange:beta", "books": 200}, {"t": 5.0, "actor": "detector", "books": None}]
    assert _books_per_second(samples) == (500 + 300 + 200) / 20


def test_the_driver_and_node_faults_are_system_kinds_with_no_target():
    assert {"driver_restart", "node_lost", "node_silenced"} <= set(SYSTEM_FAULTS)
    faults = build_schedule(4, 0, ("driver_restart", "node_lost", "venue_5xx"), VENUES, min_gap_s=0.5)
    assert {f.kind: (f.scope, f.target) for f in faults if f.kind != "venue_5xx"} == {
        "driver_restart": ("system", ""), "node_lost": ("system", "")}


def test_node_lost_needs_worker_nodes_refused_in_one_line_when_asked_for_left_out_of_all():
    assert kinds_for_nodes(ALL_KINDS, 1, asked=False) == ALL_KINDS
    assert kinds_for_nodes(ALL_KINDS, 0, asked=False) == tuple(k for k in ALL_KINDS
                                                              if k not in ("node_lost", "node_silenced"))
    with pytest.raises(UserError, match=r"^--faults node_lost: needs worker nodes to lose; add --nodes 1 \(or more\)$"):
        kinds_for_nodes(("venue_5xx", "node_lost"), 0, asked=True)


def test_rayarb_chaos_refuses_node_lost_without_nodes_and_nodes_with_an_address(capsys):
    from orchestration.cli import main

    assert main(["chaos", "--faults", "node_lost"]) == 1
    assert capsys.readouterr().err == ("rayarb chaos: --faults node_lost: needs worker nodes to lose; add --nodes 1 "
                                       "(or more)\n")
    assert main(["chaos", "--nodes", "1", "--address", "127.0.0.1:1"]) == 1
    assert "cannot be combined with --address" in capsys.readouterr().err
    assert main(["chaos", "--nodes", "-1"]) == 2


def row(cid, venue, status="filled", created=100.0, opportunity="op-1"):
    return SimpleNamespace(client_order_id=cid, exchange=venue, status=OrderStatus(status), created_ts=created,
                           opportunity_id=opportunity)


def records(**changes):
    base = dict(
        venue_orders={"alpha": [{"clientOrderId": "rx1", "receivedTimeUs": 100_500_000}],
                      "beta": [{"clientOrderId": "rx2", "receivedTimeUs": 100_400_000}]},
        venue_trades={}, before={"alpha": {"BTC": Decimal("1")}, "beta": {"BTC": Decimal("1")}},
        after={"alpha": {"BTC": Decimal("1.1")}, "beta": {"BTC": Decimal("0.9")}}, adjustments={},
        journal={"rx1": row("rx1", "alpha"), "rx2": row("rx2", "beta")},
        positions={"alpha": {"BTC": "0.1"}, "beta": {"BTC": "-0.1"}}, order_ttl_s=2.0, applied=[],
        recoveries=[])
    base.update(changes)
    return Records(**base)


def test_clean_records_break_no_invariant():
    assert all(v == [] for v in check_all(records()).values())


def test_each_invariant_names_what_broke_it():
    broken = records(
        venue_orders={"alpha": [{"clientOrderId": "rx1", "receivedTimeUs": 100_500_000}] * 2
                      + [{"clientOrderId": "ghost", "receivedTimeUs": 1}],
                      "beta": [{"clientOrderId": "rx2", "receivedTimeUs": 104_000_000}]},
        journal={"rx1": row("rx1", "alpha"), "rx2": row("rx2", "beta"), "rx3": row("rx3", "gamma", "accepted")},
        positions={"alpha": {"BTC": "0.2"}, "beta": {"BTC": "-0.1"}},
        applied=[Applied(Fault(0, 1.0, "kill_switch", ""), 100.0, 103.0,
                         {"tripped_at": 100.0, "reset_at": 103.0})],
        recoveries=[None])
    found = check_all(broken)
    assert found["no client order id placed twice"] == ["alpha: client order id rx1 placed 2 times"]
    assert found["every venue order in the journal"] == ["alpha: order ghost is not in the journal"]
    assert found["every journaled order terminal or known"] == ["gamma: journaled order rx3 is accepted and unknown to its venue"]
    assert found["positions = venue balance changes"] == ["alpha BTC: position 0.2, balance change 0.1"]
    assert found["net exposure within tolerance"] == ["net BTC exposure 0.1 beyond 0.01"]
    assert found["nothing sent after its TTL"] == ["beta: rx2 received 4.00 s after it was made (TTL 2.0 s)"]
    assert len(found["nothing sent after the kill switch"]) == 0  # rx2 arrives after the reset, rx1 in flight
    assert found["orders placed after each fault"] == ["no order placed within 120 s after fault 0 (kill_switch)"]


def test_a_balance_moved_by_the_campaign_is_not_a_mismatch():
    moved = records(after={"alpha": {"BTC": Decimal("1.1"), "USDT": Decimal("-3")}, "beta": {"BTC": Decimal("0.9")}},
                    adjustments={"alpha": {"USDT": Decimal("-3")}})
    assert check_all(moved)["positions = venue balance changes"] == []
