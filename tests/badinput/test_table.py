"""RELIABILITY.md's bad-input table is the one the cases make (regenerate it with `make badinput-table`)."""
from tests.badinput.cases import RELIABILITY, collect, section_of, table


def test_there_are_at_least_40_cases():
    assert sum(len(cases) for _, cases in collect()) >= 40


def test_reliability_md_holds_the_table_the_cases_make():
    assert RELIABILITY.exists(), "RELIABILITY.md is missing: make badinput-table"
    assert section_of(RELIABILITY.read_text(encoding="utf-8")) == table(), \
        "RELIABILITY.md's bad-input table differs from tests/badinput: run make badinput-table"
