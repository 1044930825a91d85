"""gunicorn's settings for `python3 dev.py serve` (given with --config; the rest are flags).
gunicorn also reads this file by itself when started in the project's folder."""

import sys

from app import ROOT
from app.config import SettingError, max_content_length, settings, throttling_summary

# A setting that cannot be read stops gunicorn here with one line, before any worker starts.
try:
    settings(ROOT / "instance")
except SettingError as error:
    sys.exit(f"Error: {error.format_message()}")

# The workers serve web requests only: create_app leaves out what command-line tasks alone
# use (Flask-Migrate and Alembic, about 10 MB per worker).
raw_env = ["ORDERLY_WEB_WORKER=1"]


def pre_request(worker, req):
    """A body over the limit is answered 413 without being read, and gunicorn then closes
    the connection: mark it now, so that the answer says `Connection: close` instead of
    promising a keep-alive it will not keep. (gunicorn ignores a Connection header set by
    the app.)"""
    length = next((v for h, v in req.headers if h == "CONTENT-LENGTH"), None)
    if length and length.isascii() and length.isdigit() and int(length) > max_content_length():
        req.must_close = True


def when_ready(server):
    """Says at start what the throttles' limits are for this server as a whole: with the
    default storage each worker counts API calls apart."""
    for line in throttling_summary(server.cfg.workers):
        server.log.info(line)


def post_worker_init(worker):
    """Two things for the worker's lifetime, now that it is ready to serve.

    Ctrl+C is the master's to handle: the terminal sends SIGINT to the whole process
    group, and the master then tells each worker to stop (SIGQUIT, once). A worker that
    also stopped on the terminal's SIGINT could be interrupted by that SIGQUIT while its
    stop handler held the thread pool's shutdown lock; the nested handler then waited for
    that lock forever, and the master killed the worker after its graceful timeout (30 s).
    So a worker ignores SIGINT. (The worker_int hook runs after that lock is taken: too
    late to help.) Should the master die, the worker still stops: it notices its parent
    is gone.

    What the worker loaded at start (the app, its mappers, compiled templates) lives as
    long as the worker: freezing it keeps the garbage collector from walking it again on
    every collection, which otherwise costs a request a good share of its time."""
    import gc
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def quit_now(signum, frame):
        # SIGQUIT is gunicorn's quick shutdown (what the master sends on Ctrl+C). gthread's
        # own handler shuts its thread pool down from inside the signal handler, and hung
        # when the signal came while the main thread held that pool's lock; a quick
        # shutdown does not wait for requests anyway, so the worker says so and leaves.
        worker.log.info("Worker exiting (pid: %s)", worker.pid)
        os._exit(0)

    signal.signal(signal.SIGQUIT, quit_now)
    gc.collect()
    gc.freeze()
    worker.log.info("Worker ready (pid: %s)", worker.pid)
