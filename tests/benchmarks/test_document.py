"""BENCHMARKS.md speaks to users: no diary wording, the generated tables' markers in place, and every command it shows
runs a module that exists with options that module declares, each published benchmark shown with its suite arguments."""
import re

import pytest

from benchmarks.results import BEGIN, DOCUMENT, END, ROOT
from benchmarks.suite import SUITE

COMMAND = re.compile(r"python -m benchmarks\.(\w+)([^`\n]*)")
DIARY = [r"\bsessions? \d", r"\btoday\b", r"\byesterday\b", r"\bthis (morning|afternoon|evening)\b",
         r"\bReading \(", r"\b20\d\d-\d\d-\d\d\b"]


def written_part() -> str:
    """The document without the generated tables (those carry the date of their run, which is provenance)."""
    text = DOCUMENT.read_text()
    head, rest = text.split(BEGIN, 1)
    return head + rest.split(END, 1)[1]


def test_the_generated_tables_have_their_markers_once_and_in_order():
    text = DOCUMENT.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.index(BEGIN) < text.index(END)


@pytest.mark.parametrize("pattern", DIARY)
def test_the_document_is_not_a_diary(pattern):
    hits = [line for line in written_part().splitlines() if re.search(pattern, line, re.IGNORECASE)]
    assert hits == []


def test_every_command_names_an_existing_module_and_options_it_declares():
    commands = COMMAND.findall(DOCUMENT.read_text())
    assert commands
    for module, arguments in commands:
        source = ROOT / "benchmarks" / f"{module}.py"
        assert source.exists(), f"python -m benchmarks.{module}: no benchmarks/{module}.py"
        declared = source.read_text()
        for option in re.findall(r"(?<!\w)--[a-z][\w-]*", arguments):
            assert f'"{option}"' in declared, f"python -m benchmarks.{module}: {module}.py declares no {option}"


def test_every_benchmark_make_bench_runs_is_shown_with_its_published_arguments():
    text = written_part()
    for name, (module, arguments) in SUITE.items():
        assert f"python -m {module} {' '.join(arguments)}".rstrip() in text, f"{name}: {module} {arguments}"
