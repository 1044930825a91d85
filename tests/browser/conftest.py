"""Browser tests: pytest-playwright's ``page`` pointed at the live server.

``base_url`` is declared here as well as in tests/helpers/browser.py because
pytest-playwright registers its own fallback ``base_url`` (when pytest-base-url is not
installed) after the initial conftests have loaded their plugins, so it shadows the one
in the helpers plugin; a conftest fixture is closer to the tests and always wins.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url
