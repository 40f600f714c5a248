"""Configuration loading: defaults, the shipped config.yaml, overrides, and one-line errors for bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from linkaudit.cli import main
from linkaudit.config import Settings, load_settings
from linkaudit.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent


def _keys(obj: object, prefix: str = "") -> set[str]:
    keys = set()
    for field in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, field.name)
        name = f"{prefix}{field.name}"
        keys.add(name)
        if dataclasses.is_dataclass(value):
            keys |= _keys(value, name + ".")
    return keys


def test_shipped_config_equals_defaults() -> None:
    """config.yaml documents the defaults: loading it gives exactly the built-in Settings."""
    assert load_settings(ROOT / "config.yaml") == Settings()


def test_shipped_config_documents_every_key() -> None:
    """Every settings key appears in config.yaml, so the file stays the full reference."""
    text = (ROOT / "config.yaml").read_text()
    missing = [key for key in _keys(Settings()) if f"{key.rsplit('.', 1)[-1]}:" not in text]
    assert missing == []


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    """Flags (overrides, dotted keys allowed) take precedence over the file."""
    config = tmp_path / "c.yaml"
    config.write_text("concurrency: 5\nretry:\n  attempts: 7\n")
    settings = load_settings(config, {"concurrency": 9, "retry.initial_wait": 0.0, "timeout": None})
    assert (settings.concurrency, settings.retry.attempts, settings.retry.initial_wait) == (9, 7, 0.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("concurency: 5\n", "unknown key 'concurency'"),
        ("retry:\n  atempts: 2\n", "unknown key 'retry.atempts'"),
        ("concurrency: many\n", "concurrency: expected an integer"),
        ("allow_private_hosts: 1\n", "allow_private_hosts: expected true or false"),
        ("exclude: ['([']\n", "'exclude[0]' is not a valid regex"),
        ("exclude: '^x'\n", "exclude: expected a list"),
        ("concurrency: 0\n", "'concurrency' must be at least 1"),
        ("history_keep_runs: 0\n", "'history_keep_runs' must be at least 1"),
        ("cache_ttl: -5\n", "'cache_ttl' must not be negative, got -5"),
        ("cache_ttl_by_kind:\n  doi: -1\n", "'cache_ttl_by_kind.doi' must not be negative, got -1"),
        ("cache_ttl_by_kind:\n  dois: 60\n", "'cache_ttl_by_kind' has unknown kind 'dois' (one of doi, github,"),
        ("cache_ttl_by_kind:\n  doi: soon\n", "cache_ttl_by_kind.doi: expected a number"),
        ("cache_ttl_by_kind: [doi]\n", "cache_ttl_by_kind: expected a mapping"),
        ("cache_spread: [dois]\n", "'cache_spread' has unknown kind 'dois'"),
        ("cache_spread: doi\n", "cache_spread: expected true or false, or a list, got 'doi'"),
        ("min_interval: -0.1\n", "'min_interval' must not be negative"),
        ("retry:\n  max_retry_after: -1\n", "'retry.max_retry_after' must not be negative"),
        ("connect_timeout: 0\n", "'connect_timeout' must be positive"),
        ("hosts:\n  - host: a.org\n    min_interval: -2\n", "min_interval must not be negative"),
        ("hosts:\n  - host: a.org\n    timeout: 0\n", "timeout must be positive"),
        ("policy:\n  fail_on: [borked]\n", "unknown status 'borked'"),
        ("github:\n  batch_size: 500\n", "at most 100"),
        ("doi:\n  crossref_batch: 101\n", "'doi.crossref_batch' must be between 0 (off) and 100, got 101"),
        ("doi:\n  crossref_batch: -1\n", "'doi.crossref_batch' must be between 0 (off) and 100"),
        ("event_loop: fastest\n", "'event_loop' must be one of auto, uvloop, asyncio"),
        ("hosts:\n  - host: a.org\n    concurrency: x\n", "hosts[0].concurrency: expected an integer"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("key: [unclosed\n", "invalid YAML at line"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path: Path, content: str, message: str) -> None:
    """An unknown key, a wrong type or a bad regex raises ConfigError naming the key and the file."""
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert message in str(info.value)
    assert str(config) in str(info.value)


def test_missing_config_file() -> None:
    """A config path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_settings("nope.yaml")


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit --config bad.yaml` prints one line naming the file and the key and exits 2, no traceback."""
    config = tmp_path / "bad.yaml"
    config.write_text("timeout: soon\n")
    code = main(["audit", str(ROOT / "examples" / "cvpr-2022-list06.md"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "timeout" in err and str(config) in err


def test_host_overrides_fall_back_to_globals() -> None:
    """Per-host settings apply to the exact host or a *.suffix, and fall back to the global values."""
    settings = load_settings(None, {"hosts": [{"host": "*.ieee.org", "concurrency": 2, "accept": [403]},
                                             {"host": "doi.org", "min_interval": 1.5}]})
    assert settings.effective_concurrency("ieeexplore.ieee.org") == 2
    assert settings.effective_concurrency("example.org") == 8
    assert settings.effective_min_interval("doi.org") == 1.5
    assert settings.accepted_statuses("ieeexplore.ieee.org") == frozenset({403})
    assert settings.accepted_statuses("doi.org") == frozenset()


def test_crossref_is_polite_unless_the_config_says_otherwise() -> None:
    """api.crossref.org gets the few requests in flight Crossref allows, unless `hosts` sets the host itself."""
    assert Settings().effective_concurrency("api.crossref.org") == 3
    assert Settings().effective_concurrency("API.Crossref.org") == 3
    own = load_settings(None, {"hosts": [{"host": "api.crossref.org", "concurrency": 1}]})
    assert own.effective_concurrency("api.crossref.org") == 1
    suffix = load_settings(None, {"hosts": [{"host": "*.crossref.org", "min_interval": 0.5}]})
    assert suffix.effective_min_interval("api.crossref.org") == 0.5  # the user's entry, not the built-in one
    assert suffix.effective_concurrency("api.crossref.org") == 8


def test_token_comes_from_the_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is read from the named environment variable; the file cannot hold one."""
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    settings = load_settings(None, {"github.token_env": "MY_TOKEN"})
    assert settings.github_token() == "s3cret"
    config = tmp_path / "c.yaml"
    config.write_text("github:\n  token: abc\n")
    with pytest.raises(ConfigError, match=r"unknown key 'github\.token'"):
        load_settings(config)


def test_cache_ttl_by_kind_overrides_the_ttl_of_its_kinds_only(tmp_path: Path) -> None:
    """A kind listed in cache_ttl_by_kind gets its own TTL; the others keep cache_ttl."""
    config = tmp_path / "c.yaml"
    config.write_text("cache_ttl: 3600\ncache_ttl_by_kind:\n  doi: 2592000\n  web: 0\n")
    settings = load_settings(config)
    assert (settings.ttl_for("doi"), settings.ttl_for("web"), settings.ttl_for("github")) == (2592000.0, 0.0, 3600.0)
    assert Settings().ttl_for("doi") == Settings().cache_ttl


def test_cache_spread_takes_true_or_a_list_of_kinds(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("cache_spread: [doi, pages]\n")
    settings = load_settings(config)
    assert (settings.spread_for("doi"), settings.spread_for("pages"), settings.spread_for("web")) == (True, True, False)
    config.write_text("cache_spread: true\n")
    assert load_settings(config).spread_for("web") is True
    assert Settings().spread_for("doi") is False
