"""Quicker mutation testing (`python3 dev.py mutate`, docs/mutation.md).

mutmut tests each mutant with the tests that call the function it changed, in the order
pytest collects them, and stops at the first failure. For a function that a thousand tests
call, that failure may come only after minutes. This plugin puts first the tests most likely
to fail, so a killed mutant is known in a second or two:

1. the tests that killed another mutant of the same function (written down as they fail);
2. then those that killed a mutant of another function of the same module;
3. then the quickest, by the durations of mutmut's first complete run (which calls every
   test once, under ``MUTANT_UNDER_TEST=stats``).

Each mutant's tests also start a new test session, so a new SQLite file to migrate (half a
second): that first run keeps a copy of its file as migrated, and each mutant's session
starts from a copy of that copy (``migrate_once``).

Which tests run is mutmut's choice, untouched: a mutant that survives still runs them all.
But a mutant docs/mutation.md lists as equivalent (no test can tell it from the original)
would survive them all, at the cost of a run of every test that calls its function: it runs
only the tests that killed the same function's other mutants, a check that the listing still
holds (a function changed since it was written renumbers its mutants, and the name may now
be another mutant's). ``python3 dev.py mutate`` writes the list to
``mutation-equivalent.txt``; with ``--all`` it writes none.
Outside a mutmut run (``MUTANT_UNDER_TEST`` unset or empty) the plugin does nothing.

The files are written in the directory mutmut runs the tests in (``mutants/``, ignored by
git): ``mutation-durations.json``, ``mutation-killers/<function>`` and
``mutation-migrated.db``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

DURATIONS = Path("mutation-durations.json")
KILLERS = Path("mutation-killers")
MIGRATED = Path("mutation-migrated.db")
EQUIVALENT = Path("mutation-equivalent.txt")
STATS_RUN = "stats"  # mutmut's value of MUTANT_UNDER_TEST while it records who calls what
MUTANT_MARK = "__mutmut_"

_durations: defaultdict[str, float] = defaultdict(float)


def _under_test() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def _function_of(mutant: str) -> str | None:
    """``app.orders.statuses.x_label__mutmut_3`` -> ``app.orders.statuses.x_label``."""
    function, mark, number = mutant.rpartition(MUTANT_MARK)
    return function if mark and number.isdigit() else None


def _killers_file(function: str) -> Path:
    return KILLERS / function


def pytest_runtest_logreport(report) -> None:
    mutant = _under_test()
    if mutant == STATS_RUN:
        _durations[report.nodeid] += report.duration
        return
    function = _function_of(mutant)
    if function and report.failed:
        KILLERS.mkdir(exist_ok=True)
        with _killers_file(function).open("a") as killers:
            killers.write(report.nodeid + "\n")


def pytest_sessionfinish(session) -> None:
    if _under_test() != STATS_RUN or not _durations:
        return
    # A later run records only the tests added since: keep what the first one learnt.
    known = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    DURATIONS.write_text(json.dumps(known | _durations))


def pytest_collection_modifyitems(config, items) -> None:
    mutant = _under_test()
    function = _function_of(mutant)
    if function is None:
        return
    killers_file = _killers_file(function)
    killers = set(killers_file.read_text().splitlines()) if killers_file.exists() else set()
    if EQUIVALENT.exists() and mutant in EQUIVALENT.read_text().split():
        # Only a check that the listing still holds (a changed function renumbers its
        # mutants): the tests that killed its siblings, where a stale entry would fail.
        dropped = [item for item in items if item.nodeid not in killers]
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid in killers]
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    in_module = _module_killers(function)
    items.sort(
        key=lambda item: (
            item.nodeid not in killers,
            item.nodeid not in in_module,
            durations.get(item.nodeid, math.inf),
        )
    )


def _module_killers(function: str) -> set[str]:
    """The tests that killed mutants of the other functions of the same module."""
    module = function.rpartition(".")[0]
    if not KILLERS.is_dir():
        return set()
    return {
        nodeid
        for found in KILLERS.glob(f"{module}.*")
        if found.name.rpartition(".")[0] == module
        for nodeid in found.read_text().splitlines()
    }


def migrate_once(engine: Engine, migrate: Callable[[], None]) -> None:
    """Migrates the test database, or, for a mutant's tests on SQLite, copies the database the
    first run migrated (the same migrations: only the rule modules are mutated)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    mutant = _under_test()
    if path and _function_of(mutant) and MIGRATED.exists():
        engine.dispose()
        shutil.copyfile(MIGRATED, path)
        return
    migrate()
    if path and mutant == STATS_RUN:
        engine.dispose()  # every connection closed: the file holds the whole schema
        shutil.copyfile(path, MIGRATED)
