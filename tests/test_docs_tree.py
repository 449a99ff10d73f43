"""docs/architecture.md's folder section matches the tree: every module, package or file path it names exists, and
every package of the source folders is named, so the map a newcomer reads cannot drift silently from the code."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("execution", "actors", "orchestration", "metrics", "simulator")
# A path as the section writes it: `execution/orders/manager.py`, `actors/transport/`, `metrics/prometheus.yml`.
PATH = re.compile(r"`([a-z_][a-z0-9_]*(?:/[a-z0-9_]+)*(?:\.py|\.yml|/))`")


def folder_section() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("## Folders and what lives there")
    return text[start:text.index("\n## ", start + 1)]


def named_paths() -> set[str]:
    return set(PATH.findall(folder_section()))


def test_every_path_the_folder_section_names_exists():
    paths = named_paths()
    assert len(paths) > 50  # the section names modules by path, as this test reads them
    missing = sorted(p for p in paths if not (ROOT / p).exists() or (p.endswith("/") and not (ROOT / p).is_dir()))
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_package_of_the_source_folders_is_named():
    packages = {f"{init.parent.relative_to(ROOT).as_posix()}/"
                for folder in SOURCE_FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    unnamed = sorted(packages - named_paths())
    assert unnamed == [], f"packages docs/architecture.md's folder section does not name: {unnamed}"
