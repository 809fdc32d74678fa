#!/usr/bin/env python3
"""Compare two chloe output folders: a single-machine run and a merged one.

    compare_reports.py SINGLE MERGED

Every file of SINGLE must be in MERGED with the same bytes, except
summary.json, whose `run` part (wall times, host, threads) may differ and
whose other keys must be equal, and report.html, which shows the run's
provenance (present in both, content not compared). MERGED may also hold the shards' `shards/`
folder, nothing else. Exit 0 when identical, 1 with the differences listed.
Standard library only, so the Slurm test and the soak can use it anywhere.
"""

import json
import sys
from pathlib import Path

# Folders of a merged run that a single run does not have (the units).
SHARD_DIRS = {"shards"}
# Files whose content shows how the run was made: report.html prints the
# run's provenance (paths as typed, "merged from N shards" or the backend
# flag); everything else on the page is drawn from the compared files.
PROVENANCE_FILES = {"report.html"}


def files(root: Path) -> set[str]:
    """Paths of the regular files under root, relative, without the shard units."""
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if rel.parts[0] in SHARD_DIRS or not p.is_file():
            continue
        out.add(rel.as_posix())
    return out


def summary_without_run(path: Path) -> dict:
    """summary.json with its non-deterministic `run` part removed."""
    data = json.loads(path.read_text())
    data.pop("run", None)
    return data


def differences(single: Path, merged: Path) -> list[str]:
    """Human-readable differences between two output folders (empty: identical)."""
    problems = []
    a, b = files(single), files(merged)
    if not a:
        problems.append(f"{single} holds no report files")
    for name in sorted(a - b):
        problems.append(f"missing in {merged}: {name}")
    for name in sorted(b - a):
        problems.append(f"extra in {merged}: {name}")
    for name in sorted(a & b):
        fa, fb = single / name, merged / name
        if name in PROVENANCE_FILES:
            continue
        if name == "summary.json":
            sa, sb = summary_without_run(fa), summary_without_run(fb)
            if sa != sb:
                keys = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
                problems.append(f"summary.json differs (outside `run`) in keys {keys}")
        elif fa.read_bytes() != fb.read_bytes():
            problems.append(f"bytes differ: {name}")
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    single, merged = Path(sys.argv[1]), Path(sys.argv[2])
    problems = differences(single, merged)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    if problems:
        print(f"reports differ: {single} vs {merged}", file=sys.stderr)
        return 1
    n = len(files(single))
    print(f"reports identical: {n} files ({merged} vs the single run; summary.json minus run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
