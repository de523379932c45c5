"""Run every benchmark and write docs/benchmarks.md: machine, versions, commands, outputs.

    python bench/run_all.py [--papers 1000000] [--small 100000] [--skip NAME ...]

Each bench runs in its own process, niced, one after another; its output goes into the
document verbatim under the command that produced it. The search bench also writes its
figures as JSON, turned into the side-by-side table at the top. The 1M store is built once
(minutes) and reused by later runs; the 100k store gives the disk figure at 100k.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
KEEP_MARK = "<!-- Below: hand-written sections, kept as they are by bench/run_all.py -->"
SECTIONS = Path("/tmp/paperbot-bench-sections")  # each bench's last output, for --skip


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")).split()[1]
        memory = f"{int(mem) / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        memory = "unknown RAM"
    versions = []
    for package in ("tantivy", "aiosqlite", "discord.py", "feedparser"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    return [
        f"- Machine: {os.cpu_count()} cores ({cpu}), {memory}, {platform.system()} {platform.release()};"
        f" load average at start {os.getloadavg()[0]:.1f} (the machine is shared: figures vary by"
        " ±30% or more between runs).",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        + ", ".join(versions) + ".",
        f"- Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python bench/run_all.py`.",
    ]


def run(command: list[str]) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(["nice", "-n", "10", sys.executable, *command], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    output = done.stdout + (f"\n[stderr]\n{done.stderr[-3000:]}" if done.returncode else "")
    return output.rstrip(), time.perf_counter() - started


def search_table(path: Path) -> list[str]:
    if not path.exists():
        return []
    figures = json.loads(path.read_text())
    lines = ["| query class | paperbot (tantivy) p50 / p95 / max | old FTS5 path p50 / p95 / max |",
             "|---|---|---|"]
    for name, engines in figures.items():
        cells = []
        for engine in ("paperbot (tantivy)", "old FTS5"):
            f = engines.get(engine)
            cells.append(f"{f[0]:.1f} / {f[1]:.1f} / {f[2]:.1f} ms" if f else "–")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--skip", nargs="*", default=[])
    args = parser.parse_args()
    big = f"/tmp/paperbot-bench-{args.papers}.db"
    search_json = Path(f"/tmp/paperbot-bench-{args.papers}.json")
    benches = [
        ("search", f"/search at {args.papers:,} papers, side by side with the old FTS5 path; index build;"
                   " ingest with the index update; disk",
         ["bench/search_bench.py", "--papers", str(args.papers), "--queries", "100", "--fts-queries", "12",
          "--json", str(search_json)]),
        ("search-small", f"disk, index build and search at {args.small:,} papers",
         ["bench/search_bench.py", "--papers", str(args.small), "--queries", "50", "--ingest", "0",
          "--skip-fts"]),
        ("scale-search", f"/search at {args.papers:,} papers on SQLite and on PostgreSQL"
                         " (the same store moved with copy-store)",
         ["bench/scale_search_bench.py", "--db", big, "--queries", "100"]),
        ("scale", "the two backends side by side: ingest, search and digest fan-out at 20,000 papers",
         ["bench/scale_bench.py", "--papers", "20000", "--digests", "100"]),
        ("memory", f"memory and start-up of a process answering searches on {args.papers:,} papers",
         ["bench/memory_bench.py", "--db", big]),
        ("ingest", "ingesting a real 1,101-item listing over loopback HTTP, index update included",
         ["bench/ingest_bench.py", "--runs", "7"]),
        ("match", "subscription matching: 100,000 subscriptions against 2,000 new papers",
         ["bench/match_bench.py", "--runs", "2"]),
        ("notify", "the whole notify step after a batch, and the event loop meanwhile",
         ["bench/notify_bench.py"]),
        ("fanout", "100 digests due at the same second against the fake Discord's limits",
         ["bench/fanout_bench.py", "--pace", "45"]),
        ("digest", "a digest's candidates on 20,000 papers",
         ["bench/digest_bench.py", "--papers", "20000"]),
    ]
    lines = ["# Benchmarks", "", "Every figure of `bench/`, regenerated by one command:", "",
             "```sh", "python bench/run_all.py", "```", "", *machine(), ""]
    sections: list[str] = []
    for name, title, command in benches:
        kept = SECTIONS / f"{name}.json"
        if name in args.skip and kept.exists():  # the last run's output, said as such
            output, seconds = json.loads(kept.read_text())
            output += "\n(kept from an earlier run of bench/run_all.py)"
        elif name in args.skip:
            continue
        else:
            print(f"running {name}: {' '.join(command)}", flush=True)
            output, seconds = run(command)
            SECTIONS.mkdir(exist_ok=True)
            kept.write_text(json.dumps([output, seconds]))
        sections += [f"## {title}", "", "```sh", "python " + " ".join(command), "```", "",
                     "```", output, "```", "", f"({seconds:.0f} s wall time)", ""]
    table = search_table(search_json)
    if table:
        lines += [f"## Summary: /search at {args.papers:,} papers", "",
                  "Milliseconds from the query string to the page's rows (`Store.search`, what `paperbot"
                  " search` and `/search` call, limit 50), both engines on the same database in the same"
                  " run:", "", *table, ""]
    DOC.parent.mkdir(exist_ok=True)
    kept_tail = ""
    if DOC.exists() and KEEP_MARK in DOC.read_text():  # other benches' hand-written sections
        kept_tail = KEEP_MARK + DOC.read_text().split(KEEP_MARK, 1)[1]
    DOC.write_text("\n".join(lines + sections) + ("\n" + kept_tail if kept_tail else ""))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
