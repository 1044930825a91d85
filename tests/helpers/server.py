"""The app served on a real port, from a thread of the test process.

A thread (not a subprocess) so that it shares the test database file or server and the
app's configuration; werkzeug's threaded server answers requests truly in parallel.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()
