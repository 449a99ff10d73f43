"""benchmarks/bench_profile.py: py-spy's folded stacks folded by function and component; a tiny whole run (slow)."""
import json

import pytest

from benchmarks import bench_profile
from benchmarks.results import ROOT

SITE = "/work/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
FOLDED = "\n".join([
    f"<module> (/x/default_worker.py:1);main_loop ({SITE}/ray/_private/worker.py:900);"
    f"_run_once ({STDLIB}/asyncio/base_events.py:1845) 30",
    f"<module> (/x/default_worker.py:1);on_frame ({ROOT}/actors/transport/server.py:40);"
    f"create_spot_order ({ROOT}/execution/api/orders.py:12);sign ({SITE}/ccxt/base/exchange.py:2000) 50",
    f"<module> (/x/default_worker.py:1);on_frame ({ROOT}/actors/transport/server.py:40) 15",
    f"<module> (/x/default_worker.py:1);on_frame ({ROOT}/actors/transport/server.py:40);"
    f"sign ({SITE}/ccxt/base/exchange.py:2000) 5",
    f"_bootstrap ({STDLIB}/threading.py:1);Thread.run ({STDLIB}/threading.py:975) 40",
    f"<module> (/x/default_worker.py:1);Worker.main_loop ({SITE}/ray/_private/worker.py:880) 60",
    "a line py-spy would not write",
])


def test_samples_fold_by_the_python_function_on_top_of_the_stack_and_its_component_native_code_apart():
    by_function, by_component, total = bench_profile.fold(FOLDED)
    assert total == 200
    assert by_function == {"sign (ccxt)": 55, "_run_once (python asyncio)": 30, "on_frame (rayarb actors)": 15}
    assert by_component == {"ccxt": 55, "python asyncio": 30, "rayarb actors": 15,
                            "native: under a thread's event loop": 40, "native: Ray's core worker": 60}


@pytest.mark.parametrize("path, expected", [
    (f"{SITE}/msgspec/__init__.py", "msgspec"),
    (f"{SITE}/uvloop.py", "uvloop"),
    (f"{ROOT}/execution/orders/manager.py", "rayarb execution"),
    (f"{STDLIB}/selectors.py", "python selectors"),
    ("<frozen importlib._bootstrap>", "python <frozen importlib._bootstrap>"),
])
def test_a_source_file_belongs_to_its_package(path, expected):
    assert bench_profile.component(path) == expected


@pytest.mark.ray
@pytest.mark.slow  # a whole run: ~40 s
def test_the_profile_benchmark_records_each_hot_path_actor(tmp_path):
    results = tmp_path / "results.json"
    profiles = bench_profile.main(["--load", "2x2", "--update-hz", "10", "--seconds", "4", "--warmup", "1",
                                   "--rate", "100", "--results", str(results)])
    assert set(profiles) == {"exchange:alpha", "exchange:beta", "detector", "order_manager"}
    assert all(p["samples"] > 0 and 0 < p["cpu_share"] < 2 for p in profiles.values())
    figures = {f["name"]: f for f in json.loads(results.read_text())["benchmarks"]["profile"]["figures"]}
    assert figures["order_manager: CPU"]["unit"] == "% of a core"
    shares = [f["value"] for name, f in figures.items() if name.startswith("exchange:alpha: `")]  # ccxt's books
    assert shares and all(0 < share <= 100 for share in shares)
