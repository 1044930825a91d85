"""What every benchmark prints with its figures, as Markdown ready for docs/performance.md:
when, on which commit, on which database and size, and how busy the machine was at the
start and at the end (a busy machine makes every figure slower; compare within one table)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def commit() -> str:
    """The short commit, marked ``+changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    short = git("rev-parse", "--short", "HEAD") or "unknown"
    return short + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


@dataclass
class RunInfo:
    database: str
    size: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    commit: str = field(default_factory=commit)
    load_at_start: str = field(default_factory=load)
    load_at_end: str = ""

    @classmethod
    def start(cls, database: str, size: str) -> RunInfo:
        return cls(database=database, size=size)

    def finish(self) -> None:
        self.load_at_end = load()

    def heading(self, title: str) -> str:
        return (
            f"**{title}** — {self.started:%Y-%m-%d %H:%M} UTC, commit `{self.commit}`, "
            f"{self.database}, {self.size}, {os.cpu_count()} cores; load average "
            f"(1/5/15 min) {self.load_at_start} at the start, {self.load_at_end} at the end."
        )


def table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """A Markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)
