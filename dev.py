#!/usr/bin/env python3
"""Set up and run Orderly with nothing but Python, pip and Node.js.

    python3 dev.py serve   # install, migrate, load demo data, serve on 127.0.0.1:8000
    python3 dev.py test    # install what the tests need (Chromium too) and run them all
    python3 dev.py bench   # Orderly beside a bare Flask app, via gunicorn (docs/performance.md)
    python3 dev.py bench --pages --sizes 10000 100000  # page timings at those sizes
    python3 dev.py bench --cpu   # CPU per request in-process: what the throttle, the log cost
    python3 dev.py bench --load  # a day's load in Locust, on DATABASE_URL (PostgreSQL)
    python3 dev.py screenshots  # remake the README's pictures (docs/screenshots/) from demo data
    python3 dev.py lock    # after changing pyproject.toml: pin every dependency, with hashes
    python3 dev.py mutate  # mutation testing of the rule modules (long: see docs/mutation.md)
    python3 dev.py mutate --paths app/orders/lifecycle.py  # one module (or several)
    python3 dev.py mutate --report  # the last run's score per module and its survivors

Each step is skipped when what it installs is already up to date, so running a
command twice is quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
VENDOR = ROOT / "static" / "vendor"
# Files copied out of node_modules into static/vendor (never committed).
VENDOR_FILES = {"htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js"}
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Every dependency, transitive ones too, pinned with hashes (made by `python3 dev.py lock`).
LOCKS = {"": ROOT / "requirements" / "base.txt", "test": ROOT / "requirements" / "test.txt"}
PIP_TOOLS = "pip-tools==7.6.2"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args, **kwargs) -> None:
    """Runs one step; a step that fails has said why, so this stops with its exit status
    (a traceback of this script would only bury the reason)."""
    result = subprocess.run([str(a) for a in args], cwd=ROOT, **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def _digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def _up_to_date(stamp: Path, digest: str) -> bool:
    return stamp.exists() and stamp.read_text() == digest


def python_packages(extras: str) -> None:
    if not PYTHON.exists():
        say("Creating the virtualenv in .venv")
        run(sys.executable, "-m", "venv", VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    lock = LOCKS[extras]
    digest = _digest(ROOT / "pyproject.toml", lock, extra=extras)
    if _up_to_date(stamp, digest):
        return
    say(f"Installing Python packages from {lock.relative_to(ROOT)} (pinned, hashes checked)")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", lock)
    # The project itself: its dependencies are all in the lock already.
    run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ".")
    stamp.write_text(digest)


def lock() -> None:
    """Pins every dependency of pyproject.toml, transitive ones too, with their hashes: one
    file for serving, one for the tests. Run it after changing a dependency there."""
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    run(PYTHON, "-m", "pip", "install", "--quiet", PIP_TOOLS)
    # Resolved against the package index alone: a machine's own pip settings (local mirrors,
    # constraints) must not end up in the project's lock.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    for extras, path in LOCKS.items():
        say(f"Locking {path.relative_to(ROOT)}")
        path.parent.mkdir(exist_ok=True)
        run(
            BIN / "pip-compile",
            "--quiet",
            "--generate-hashes",
            "--allow-unsafe",
            "--strip-extras",
            "--no-emit-index-url",
            "--no-emit-find-links",
            *(["--extra", extras] if extras else []),
            "--output-file",
            # Relative: pip-compile writes this into the lock's header, the same for everyone.
            path.relative_to(ROOT),
            "pyproject.toml",
            env=env,
        )


def frontend_packages() -> None:
    stamp = ROOT / "node_modules" / ".orderly-installed"
    digest = _digest(ROOT / "package.json", ROOT / "package-lock.json")
    if not _up_to_date(stamp, digest):
        say("Installing front-end packages from the npm registry (pinned in package-lock.json)")
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm was not found: install Node.js (which brings npm) and try again.")
        run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
        stamp.write_text(digest)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, source in VENDOR_FILES.items():
        shutil.copyfile(ROOT / source, VENDOR / name)


def chromium() -> str | None:
    """A Chromium for the browser tests: the system's, Debian's package, or Playwright's."""
    for path in [os.environ.get("CHROMIUM_PATH"), *SYSTEM_CHROMIUM]:
        if path and Path(path).exists():
            return path
    apt = shutil.which("apt-get")
    if apt:
        sudo = (
            [] if os.geteuid() == 0 else ([shutil.which("sudo")] if shutil.which("sudo") else None)
        )
        if sudo is not None:
            say("Installing Chromium from Debian's packages")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            install = [*sudo, apt, "install", "-y", "--no-install-recommends", "chromium"]
            if subprocess.run(install, env=env).returncode != 0:
                subprocess.run([*sudo, apt, "update"], env=env)
                subprocess.run(install, env=env)
            for path in SYSTEM_CHROMIUM:
                if Path(path).exists():
                    return path
    say("No system Chromium: downloading Playwright's")
    run(BIN / "playwright", "install", "chromium")
    return None


def setup(extras: str = "") -> None:
    python_packages(extras)
    frontend_packages()


def start_webhooks_worker(env: dict) -> subprocess.Popen:
    """One webhooks worker beside the web server. It stops on Ctrl+C with it, and ends by
    itself when the server (its parent, which this process becomes) is gone."""
    say("Starting one webhooks worker")
    return subprocess.Popen(
        [str(BIN / "flask"), "webhooks", "work", "--exit-with-parent"], cwd=ROOT, env=env
    )


def check_port(host: str, port: str) -> None:
    """Stops with one line when the server could not listen there, before anything starts."""
    if not port.isdigit() or not 0 < int(port) < 65536:
        sys.exit(f"PORT={port!r} is not a port number (1 to 65535).")
    try:
        family, *_, address = socket.getaddrinfo(host, int(port))[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except OSError as error:
        sys.exit(
            f"Cannot serve on {host}:{port} ({error.strerror or error}): is Orderly already "
            "running there? Stop it, or choose another port: PORT=8001 python3 dev.py serve"
        )


def serve() -> None:
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    check_port(host, port)
    setup()
    env = {**os.environ, "FLASK_APP": "app"}
    say("Migrating the database")
    run(BIN / "flask", "db", "upgrade", env=env)
    say("Loading demo data if the database is empty")
    run(BIN / "flask", "seed-demo", env=env)
    say(f"Serving Orderly on http://{host}:{port} (Ctrl+C stops it)")
    gunicorn = gunicorn_command(host, port)
    os.chdir(ROOT)
    start_webhooks_worker(env)
    os.execve(gunicorn[0], gunicorn, env)


def gunicorn_command(host: str, port: str) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        # No control socket: every instance would bind the same ~/.gunicorn/gunicorn.ctl,
        # and stopping one would unlink another's.
        "--no-control-socket",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"{host}:{port}",
        "--workers",
        os.environ.get("WEB_CONCURRENCY", "2"),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        # The path only, never the query string: searches carry patient names.
        "--access-logformat",
        '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
        "app:create_app()",
    ]


def test(pytest_args: list[str]) -> None:
    setup("test")
    env = dict(os.environ)
    path = chromium()
    if path:
        env["CHROMIUM_PATH"] = path
    say(
        "Running the tests on "
        + ("PostgreSQL" if "postgresql" in env.get("DATABASE_URL", "") else "SQLite")
    )
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in pytest_args):
        # One pytest worker per core (pytest-xdist); each has its own database.
        pytest_args = ["-n", os.environ.get("TEST_WORKERS", str(os.cpu_count() or 2)), *pytest_args]
    result = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    sys.exit(result.returncode)


def bench(args: list[str]) -> None:
    """Throughput through gunicorn; with ``--pages`` the page timings in-process; with
    ``--cpu`` the CPU per request in-process; with ``--load`` a day's load in Locust (a test
    tool: the test extras are installed)."""
    setup("test" if "--load" in args else "")
    module = "tests.benchmarks.throughput"
    if "--load" in args:
        args = [a for a in args if a != "--load"]
        module = "tests.benchmarks.load_runner"
    elif "--pages" in args:
        args = [a for a in args if a != "--pages"]
        module = "tests.benchmarks.run_benchmarks"
    elif "--cpu" in args:
        args = [a for a in args if a != "--cpu"]
        module = "tests.benchmarks.cpu_per_request"
    result = subprocess.run([str(PYTHON), "-m", module, *args], cwd=ROOT)
    sys.exit(result.returncode)


def screenshots() -> None:
    """Remakes docs/screenshots/*.png from the demo data (a temporary database)."""
    setup("test")
    env = dict(os.environ)
    path = chromium()
    if path:
        env["CHROMIUM_PATH"] = path
    say("Photographing the demo into docs/screenshots/")
    subprocess.run(
        [str(PYTHON), str(ROOT / "tools" / "screenshots.py")], cwd=ROOT, env=env, check=True
    )


# mutmut's verdicts by exit code (as its stats.py reads them): what counts as caught.
MUTANT_CAUGHT = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}  # failed, timed out, crashed
MUTANT_SURVIVED = {0: "survived", 5: "no tests", 33: "no tests", None: "not run"}
MUTATION_DOC = ROOT / "docs" / "mutation.md"
MUTATION_THRESHOLD = 90.0


def mutated_modules() -> list[str]:
    """The modules mutmut changes: ``only_mutate`` in pyproject.toml, those that exist."""
    import tomllib

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [path for path in settings["only_mutate"] if (ROOT / path).is_file()]


def equivalent_mutants() -> set[str]:
    """Mutants docs/mutation.md lists as equivalent: no test can tell them from the original."""
    if not MUTATION_DOC.exists():
        return set()
    return set(re.findall(r"`(app\.[^`\s]+__mutmut_\d+)`", MUTATION_DOC.read_text()))


def mutant_verdicts(modules: list[str]) -> dict[str, int | None]:
    """The last run's exit code of each mutant of these modules (None: not run yet)."""
    verdicts: dict[str, int | None] = {}
    for module in modules:
        meta = ROOT / "mutants" / f"{module}.meta"
        if meta.exists():
            verdicts |= json.loads(meta.read_text())["exit_code_by_key"]
    return verdicts


def mutation_report(modules: list[str]) -> bool:
    """Prints each module's score, killed / (mutants - equivalent ones), and its survivors
    (mutants not run yet are counted, not listed). True when every module reaches
    MUTATION_THRESHOLD."""
    equivalent = equivalent_mutants()
    passed = True
    print(f"\n{'module':<34} {'killed':>6} {'total':>6} {'equiv.':>6} {'not run':>7} {'score':>7}")
    survivors: dict[str, list[str]] = {}
    for module in modules:
        meta = ROOT / "mutants" / f"{module}.meta"
        if not meta.exists():
            print(f"{module:<34} not run yet")
            passed = False
            continue
        verdicts = mutant_verdicts([module])
        caught = sum(1 for code in verdicts.values() if code in MUTANT_CAUGHT)
        not_run = sum(1 for code in verdicts.values() if code is None)
        left = {n: c for n, c in verdicts.items() if c not in MUTANT_CAUGHT and c is not None}
        equal = {name for name in left if name in equivalent}
        counted = len(verdicts) - len(equal)
        score = 100.0 * caught / counted if counted else 100.0
        passed = passed and score >= MUTATION_THRESHOLD
        flag = "" if score >= MUTATION_THRESHOLD else "  < 90%"
        print(
            f"{module:<34} {caught:>6} {len(verdicts):>6} {len(equal):>6} {not_run:>7} "
            f"{score:>6.1f}%{flag}"
        )
        survivors[module] = [
            f"{name} ({MUTANT_SURVIVED.get(code, 'suspicious')})"
            for name, code in sorted(left.items())
            if name not in equal
        ]
    for module, names in survivors.items():
        if names:
            print(f"\nSurvivors in {module} (`.venv/bin/mutmut show NAME` shows the change):")
            for name in names:
                print(f"    {name}")
    verdicts = mutant_verdicts(modules)  # every module's, for the out-of-date entries
    stale = sorted(n for n, c in verdicts.items() if n in equivalent and c in MUTANT_CAUGHT)
    run = {module.removesuffix(".py").replace("/", ".") + "." for module in modules}
    gone = sorted(n for n in equivalent - set(verdicts) if n.rpartition(".")[0] + "." in run)
    for names, why in (
        (stale, "listed as equivalent but killed (counted killed)"),
        (gone, "listed as equivalent but no mutant has that name now"),
    ):
        if names:
            print(f"\nOut of date in docs/mutation.md, {why}; a change to the function")
            print("most likely renumbered its mutants:")
            for name in names:
                print(f"    {name}")
    return passed


def mutate(args: list[str]) -> None:
    """Mutation testing with mutmut (docs/mutation.md): each mutant is tested by the tests that
    call the function it changed, as mutmut recorded them in a first, complete run (kept in
    mutants/). ``--paths`` narrows to some modules, ``--max-children N`` sets the processes
    (default: one per core), ``--report`` prints the last run's results without running.
    A mutant listed as equivalent runs only the tests that killed its function's other
    mutants (a check that the entry is not stale), in a second pass once those are known;
    ``--all`` runs it against all its tests, as any other."""
    modules, paths, children, report_only = mutated_modules(), [], str(os.cpu_count() or 2), False
    run_equivalent = False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--report":
            report_only = True
        elif arg == "--all":
            run_equivalent = True
        elif arg == "--max-children" and rest and rest[0].isdigit():
            children = rest.pop(0)
        elif arg == "--paths":
            while rest and not rest[0].startswith("--"):
                paths.append(rest.pop(0).rstrip("/"))
        else:
            sys.exit(f"dev.py mutate: unknown argument {arg!r} (see python3 dev.py help)")
    if paths:
        chosen = [m for m in modules if any(m == p or m.startswith(p + "/") for p in paths)]
        unknown = [p for p in paths if not any(m == p or m.startswith(p + "/") for m in modules)]
        if unknown:
            sys.exit(
                f"Not among the mutated modules ([tool.mutmut] only_mutate): {', '.join(unknown)}"
            )
        modules = chosen
    if not report_only:
        setup("test")
        # The tests run inside mutants/, a copy of the project: some start `.venv/bin/flask`.
        (ROOT / "mutants").mkdir(exist_ok=True)
        if not (ROOT / "mutants" / ".venv").exists():
            (ROOT / "mutants" / ".venv").symlink_to(VENV, target_is_directory=True)
        # The tests' plugin (tests/helpers/mutation.py) reads which mutants are listed.
        listed = set() if run_equivalent else equivalent_mutants()
        (ROOT / "mutants" / "mutation-equivalent.txt").write_text("\n".join(sorted(listed)))
        say(f"Mutation testing {len(modules)} module(s) with {children} process(es)")
        started = time.monotonic()
        # Named mutants are all tested again, survivors too: tests added since the last run
        # count. The first run also runs the tests once to learn which tests call what.
        names = [module.removesuffix(".py").replace("/", ".") + ".*" for module in modules]
        mutmut = [str(BIN / "mutmut"), "run", "--max-children", children]
        result = subprocess.run([*mutmut, *names], cwd=ROOT)
        if result.returncode != 0:
            sys.exit(result.returncode)
        # The mutants listed as equivalent once more, now that the tests that killed their
        # functions' other mutants are known (the plugin runs those, to catch a stale entry).
        recheck = sorted(listed & set(mutant_verdicts(modules)))
        if recheck:
            say(f"Checking the {len(recheck)} mutants listed as equivalent")
            result = subprocess.run([*mutmut, *recheck], cwd=ROOT)
            if result.returncode != 0:
                sys.exit(result.returncode)
        minutes = round((time.monotonic() - started) / 60)
        say(f"mutmut took {minutes // 60} h {minutes % 60:02d} min")
    sys.exit(0 if mutation_report(modules) else 1)


def main() -> None:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "serve":
        serve()
    elif command == "test":
        test(rest)
    elif command == "bench":
        bench(rest)
    elif command == "screenshots":
        screenshots()
    elif command == "setup":
        setup("test" if "--test" in rest else "")
    elif command == "lock":
        lock()
    elif command == "mutate":
        mutate(rest)
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main()
