"""gunicorn's settings for `python3 dev.py serve` (given with --config; the rest are flags)."""

from app.config import max_content_length, throttling_summary

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
    """What the worker loaded at start (the app, its mappers, compiled templates) lives as
    long as the worker: freezing it keeps the garbage collector from walking it again on
    every collection, which otherwise costs a request a good share of its time."""
    import gc

    gc.collect()
    gc.freeze()


def worker_int(worker):
    """A worker stopping on SIGINT or SIGQUIT ignores any further one. Ctrl+C reaches the
    whole process group, so a worker gets SIGINT from the terminal and SIGQUIT from the
    master at once; a second SystemExit raised while the first is joining the worker's
    threads could leave it half-exited, and the master then waits its graceful timeout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
