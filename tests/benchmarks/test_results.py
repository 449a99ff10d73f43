"""benchmarks/results.py: figures are stored with their provenance, and BENCHMARKS.md's tables are made from them."""
import json

import pytest

from benchmarks.results import BEGIN, END, Figure, load, record, update_document


def test_a_record_keeps_each_figure_with_its_unit_command_machine_and_code_version(tmp_path):
    path = tmp_path / "results.json"
    record("tick.3x2", "Tick-to-order, 3 venues x 2 symbols", "python -m benchmarks.x --load 3x2",
           [Figure("p99", 2.6, "ms", baseline=2.0, target="<= 1.3x"), Figure("samples", 1200, "count")], path=path)
    entry = json.loads(path.read_text())["benchmarks"]["tick.3x2"]
    assert entry["command"] == "python -m benchmarks.x --load 3x2"
    assert entry["machine"]["cores"] >= 1 and entry["machine"]["python"].startswith("3.")
    assert entry["code_version"] and entry["date"]
    p99 = entry["figures"][0]
    assert (p99["value"], p99["unit"], p99["baseline"], p99["ratio"]) == (2.6, "ms", 2.0, 1.3)
    assert "ratio" not in entry["figures"][1] and "baseline" not in entry["figures"][1]


def test_recording_one_benchmark_leaves_the_others(tmp_path):
    path = tmp_path / "results.json"
    record("a", "A", "cmd a", [Figure("x", 1, "n")], path=path)
    record("b", "B", "cmd b", [Figure("y", 2, "n")], path=path)
    record("a", "A", "cmd a", [Figure("x", 3, "n")], path=path)
    benchmarks = load(path)["benchmarks"]
    assert benchmarks["a"]["figures"][0]["value"] == 3 and benchmarks["b"]["figures"][0]["value"] == 2


def test_the_document_tables_are_rewritten_between_the_markers_only(tmp_path):
    path = tmp_path / "results.json"
    record("a", "Ingest", "python -m benchmarks.ingest", [Figure("updates/s", 25000.0, "1/s", target=">= 20,000")],
           path=path)
    document = tmp_path / "BENCHMARKS.md"
    document.write_text(f"# Benchmarks\nintro\n{BEGIN}\nold table\n{END}\n## Tried and not kept\nkept text\n")
    update_document(path, document)
    text = document.read_text()
    assert "old table" not in text and "intro" in text and "kept text" in text
    assert "### Ingest" in text and "python -m benchmarks.ingest" in text and "| updates/s | 25,000 | 1/s | >= 20,000 |" in text


def test_a_document_without_the_markers_is_refused(tmp_path):
    document = tmp_path / "BENCHMARKS.md"
    document.write_text("# Benchmarks\n")
    with pytest.raises(SystemExit, match="markers"):
        update_document(tmp_path / "results.json", document)


def test_the_side_by_side_comparison_comes_first_and_unknown_benchmarks_last(tmp_path):
    path = tmp_path / "results.json"
    for key in ("journal", "zeta", "ingest", "side_by_side.5x20", "side_by_side.3x2"):
        record(key, f"title {key}", f"cmd {key}", [Figure("x", 1, "n")], path=path)
    document = tmp_path / "BENCHMARKS.md"
    document.write_text(f"{BEGIN}\n{END}\n")
    update_document(path, document)
    text = document.read_text()
    shown = [text.index(f"### title {key}") for key in
             ("side_by_side.3x2", "side_by_side.5x20", "ingest", "journal", "zeta")]
    assert shown == sorted(shown)


def test_the_load_average_is_the_one_before_the_benchmark_ran(tmp_path, monkeypatch):
    import benchmarks.results as results

    monkeypatch.setattr(results, "LOAD_AT_START", 0.25)  # as it was when the benchmark imported this module
    path = tmp_path / "results.json"
    record("a", "A", "cmd a", [Figure("x", 1, "n")], path=path)
    machine = load(path)["benchmarks"]["a"]["machine"]
    assert (machine["load_average_1m"], machine["load_average_at"]) == (0.25, "start")
    document = tmp_path / "BENCHMARKS.md"
    document.write_text(f"{BEGIN}\n{END}\n")
    update_document(path, document)
    assert "load average 0.25 at start." in document.read_text()
