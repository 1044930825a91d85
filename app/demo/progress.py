"""The progress line of long commands (generating orders, the benchmarks): how far, how fast,
and how long is left, as people expect of a ten-minute job.

On a terminal the line is redrawn in place; into a file or a pipe (a log, CI) a line is
written every ``LOG_EVERY`` seconds instead, so that the log shows the rate too.
"""

from __future__ import annotations

import sys
import time

BAR_WIDTH = 24
REDRAW_EVERY = 0.2  # seconds, on a terminal
LOG_EVERY = 15.0  # seconds, into a file


def duration(seconds: float) -> str:
    """1:05:09, 4:07 or 0:09."""
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """``with Progress(total, "Generating orders", "orders") as bar: ... bar.update(n)``.

    Written to stderr, so that what a command prints on stdout (a table) stays clean.
    """

    def __init__(self, total: int, label: str, unit: str = "", stream=None):
        self.total = max(total, 0)
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.note = ""
        self.started = self.shown = time.perf_counter()

    def __enter__(self) -> Progress:
        self.started = self.shown = time.perf_counter()
        if not self.live:
            self._write(f"{self.label}: {self.total:,} {self.unit}".rstrip())
        return self

    def __exit__(self, *exc) -> None:
        self.note = ""
        self._show(final=True)

    def update(self, n: int = 1, note: str | None = None) -> None:
        """``n`` more done; ``note`` says what is being done now (shown at once)."""
        self.done += n
        if note is not None and note != self.note:
            self.note = note
            self._show()
            return
        if time.perf_counter() - self.shown >= (REDRAW_EVERY if self.live else LOG_EVERY):
            self._show()

    def line(self) -> str:
        """``Generating orders [####    ] 50% 5,000/10,000 orders, 1,234 orders/s, 0:04 left``"""
        elapsed = time.perf_counter() - self.started
        share = self.done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * min(share, 1.0))
        unit = f" {self.unit}" if self.unit else ""
        text = (
            f"{self.label} [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {share:4.0%} "
            f"{self.done:,}/{self.total:,}{unit}"
        )
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            text += f", {rate:,.0f}{unit}/s" if rate >= 10 else f", {rate:,.2f}{unit}/s"
            if self.done < self.total:
                text += f", {duration((self.total - self.done) / rate)} left"
            else:
                text += f", {duration(elapsed)} in all"
        if self.note:
            text += f" ({self.note})"
        return text

    def _show(self, final: bool = False) -> None:
        self.shown = time.perf_counter()
        if self.live:
            self.stream.write("\r\x1b[K" + self.line() + ("\n" if final else ""))
            self.stream.flush()
        else:
            self._write(self.line())

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
