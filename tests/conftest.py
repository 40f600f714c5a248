"""Shared fixtures: a clean environment so the default run never reaches the internet."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "cvpr-2022-list06.md"

_NETWORK_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GITHUB_TOKEN", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip proxy, TLS and token variables so no test inherits the developer's network setup."""
    for name in _NETWORK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture()
def sample_path() -> Path:
    """The real catalog page shipped in examples/."""
    return SAMPLE


@pytest.fixture()
def sample_text() -> str:
    """The real catalog page's text."""
    return SAMPLE.read_text(encoding="utf-8")
