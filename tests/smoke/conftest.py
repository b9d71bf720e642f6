"""Markers of the smoke tests, registered here so that they need no entry in pyproject.toml."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compose: brings up deploy/compose with Docker or Podman; runs only with BANGKE_COMPOSE_SMOKE=1"
    )
