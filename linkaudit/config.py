"""Configuration: ``config.yaml`` + CLI overrides -> frozen ``Settings``.

Precedence: CLI flags, then the file, then the ``DEFAULT_*`` values below.
Validation is strict: an unknown key, a wrong type or a bad regex raises
``ConfigError`` naming the key and the file.  Secrets never come from the
file: only the environment variable named by ``github.token_env``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONCURRENCY = 64
DEFAULT_HOST_CONCURRENCY = 8
DEFAULT_TIMEOUT = 20.0
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
DEFAULT_USER_AGENT = "linkaudit/0.1 (+https://github.com/linkaudit/linkaudit; link checker for research catalogs)"


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """How tenacity retries a retryable failure (timeouts, resets, 5xx, 429)."""

    attempts: int = 3
    """Total tries per request, the first included."""
    initial_wait: float = 0.5
    """First backoff in seconds; doubles each retry."""
    max_wait: float = 10.0
    """Cap on one exponential backoff step, in seconds."""
    jitter: float = 0.5
    """Random extra wait, up to this many seconds."""
    max_retry_after: float = 60.0
    """Longest Retry-After / rate-limit reset we wait for; past it the link is reported `blocked`."""
    total_time: float = 120.0
    """Give up retrying one link after this many seconds in all."""


@dataclass(frozen=True, slots=True)
class HostSettings:
    """Overrides for one host (matched case-insensitively, exact host or `*.suffix`)."""

    host: str
    concurrency: int | None = None
    min_interval: float | None = None
    timeout: float | None = None
    accept: tuple[int, ...] = ()
    """Extra status codes that count as `ok` for this host (e.g. 403 for a bot wall you trust)."""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GitHubSettings:
    """GitHub API endpoints and behaviour (GitHub Enterprise: change the three URLs)."""

    api: str = "https://api.github.com"
    graphql: str = "https://api.github.com/graphql"
    web: str = "https://github.com"
    token_env: str = "GITHUB_TOKEN"
    batch_size: int = 100
    check_paths: bool = True
    """Also check /tree/... and /blob/... paths inside a repository."""


@dataclass(frozen=True, slots=True)
class DoiSettings:
    """doi.org handle API and the optional Crossref title check."""

    api: str = "https://doi.org"
    crossref_api: str = "https://api.crossref.org"
    crossref: bool = False
    mailto: str | None = None
    crossref_batch: int = 0
    """DOIs per Crossref works query (``filter=doi:A,doi:B,...``); 0 asks doi.org about each DOI.  A DOI
    the query does not list (registered elsewhere, or not at all) or a failed query is asked at doi.org."""


CROSSREF_MAX_BATCH = 100
"""DOIs per Crossref query, at most: the query's URL stays a few kilobytes long."""
BUILTIN_HOSTS: tuple[HostSettings, ...] = (HostSettings("api.crossref.org", concurrency=3),)
"""Politeness a host asks for, applied unless ``hosts`` sets the host itself: Crossref's public and polite
pools limit each user to a few requests in flight (its REST API documentation)."""


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """When a run fails (exit 1)."""

    fail_on: tuple[str, ...] = ("broken",)
    """Statuses that fail the run; only definitive results count."""
    fail_after_runs: int = 1
    """Fail only when a link has failed this many runs in a row."""
    only_new: bool = False
    """Fail only for links that were not failing in the previous run."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs to know; built by ``load_settings``."""

    concurrency: int = DEFAULT_CONCURRENCY
    host_concurrency: int = DEFAULT_HOST_CONCURRENCY
    min_interval: float = 0.0
    """Minimum seconds between two requests to the same host."""
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = 10.0
    max_redirects: int = 10
    max_body_bytes: int = 262_144
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_hosts: bool = False
    http2: bool = True
    """HTTP/2 for API requests and proxied ones where the server offers it; page checks to hosts reached
    directly always use linkaudit's HTTP/1.1 client (``check/h1.py``)."""
    event_loop: str = "asyncio"
    """``auto`` (uvloop when it is installed, the ``fast`` extra), ``uvloop`` or ``asyncio``."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    hosts: tuple[HostSettings, ...] = ()
    exclude: tuple[str, ...] = ()
    """Regexes; a matching URL is `skipped`."""
    include: tuple[str, ...] = ()
    """Regexes; if any are given, only matching URLs are checked."""
    github: GitHubSettings = field(default_factory=GitHubSettings)
    doi: DoiSettings = field(default_factory=DoiSettings)
    cache_ttl: float = 86_400.0
    cache_ttl_by_kind: Mapping[str, float] = field(default_factory=dict)
    """``cache_ttl`` for links of some kinds (``doi``, ``github``, ``web``, ...); the others keep ``cache_ttl``."""
    cache_spread: bool | tuple[str, ...] = False
    """Spread the links' due times over each TTL (``storerows.spread_due``): true for every kind, or a list of
    the kinds to spread (``[doi]`` beside ``cache_ttl_by_kind: {doi: 2592000}``)."""
    use_cache: bool = True
    history_path: str = ".linkaudit/history.db"
    history_keep_runs: int = 30
    """Runs whose per-link rows the history keeps (``diff --since-last`` needs one; the per-link summary,
    "failing for N runs since ...", is kept whatever this is).  A run costs ~23 bytes per link."""
    policy: PolicySettings = field(default_factory=PolicySettings)
    reports_dir: str = "reports"
    check_suggestions: bool = True

    def host_settings(self, host: str) -> HostSettings | None:
        """The override entry for ``host``, exact match first, then the longest ``*.suffix`` match, then the
        built-in politeness of a few API hosts (``BUILTIN_HOSTS``)."""
        host = host.lower()
        best: HostSettings | None = None
        for entry in self.hosts:
            pattern = entry.host.lower()
            if pattern == host:
                return entry
            suffix_match = pattern.startswith("*.") and (host == pattern[2:] or host.endswith(pattern[1:]))
            if suffix_match and (best is None or len(pattern) > len(best.host)):
                best = entry
        if best is None:
            best = next((entry for entry in BUILTIN_HOSTS if entry.host == host), None)
        return best

    def effective_concurrency(self, host: str) -> int:
        """Per-host concurrency: the host's override, else the global per-host value."""
        entry = self.host_settings(host)
        return entry.concurrency if entry and entry.concurrency else self.host_concurrency

    def effective_min_interval(self, host: str) -> float:
        """Per-host minimum interval between requests."""
        entry = self.host_settings(host)
        return entry.min_interval if entry and entry.min_interval is not None else self.min_interval

    def effective_timeout(self, host: str) -> float:
        """Per-host read timeout."""
        entry = self.host_settings(host)
        return entry.timeout if entry and entry.timeout is not None else self.timeout

    def accepted_statuses(self, host: str) -> frozenset[int]:
        """Extra status codes treated as `ok` for ``host``."""
        entry = self.host_settings(host)
        return frozenset(entry.accept) if entry else frozenset()

    def ttl_for(self, kind: str) -> float:
        """The cache TTL of links of ``kind`` (a ``Kind`` value): its ``cache_ttl_by_kind`` entry, else ``cache_ttl``."""
        return self.cache_ttl_by_kind.get(kind, self.cache_ttl)

    def spread_for(self, kind: str) -> bool:
        """Whether links of ``kind`` (a ``Kind`` value) come due in their own slots (``cache_spread``)."""
        spread = self.cache_spread
        return spread if isinstance(spread, bool) else kind in spread

    def github_token(self) -> str | None:
        """The GitHub token from the environment (never from the file); None when unset or empty."""
        token = os.environ.get(self.github.token_env, "").strip()
        return token or None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists/dicts into the dataclass tree."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        # "x: expected true or false, got 'y'" and "x: expected a list, got str" say one thing together
        prefix = f"{where}: expected "
        wanted = [e[len(prefix):].rsplit(", got ", 1)[0] for e in errors if e.startswith(prefix) and ", got " in e]
        if len(wanted) > 1 and len(wanted) == len(errors):
            raise ConfigError(f"{prefix}{', or '.join(wanted)}, got {value!r}")
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        item_tp = args[0] if args else Any
        return tuple(_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is Mapping or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {str(k): _convert(v, args[1] if args else Any, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")


def _build(cls: Any, data: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else str(name)
        kwargs[str(name)] = _convert(value, hints[str(name)], key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


def _validate(settings: Settings) -> None:
    positive = {
        "concurrency": settings.concurrency,
        "host_concurrency": settings.host_concurrency,
        "max_redirects": settings.max_redirects + 1,
        "retry.attempts": settings.retry.attempts,
        "github.batch_size": settings.github.batch_size,
        "policy.fail_after_runs": settings.policy.fail_after_runs,
        "history_keep_runs": settings.history_keep_runs,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"'{key}' must be at least 1")
    if settings.timeout <= 0:
        raise ConfigError("'timeout' must be positive")
    if settings.connect_timeout <= 0:
        raise ConfigError("'connect_timeout' must be positive")
    # a negative number here would be read as 0 (or worse) without a word: a typo must not pass for a choice
    not_negative = {
        "min_interval": settings.min_interval,
        "max_body_bytes": settings.max_body_bytes,
        "cache_ttl": settings.cache_ttl,
        "retry.initial_wait": settings.retry.initial_wait,
        "retry.max_wait": settings.retry.max_wait,
        "retry.jitter": settings.retry.jitter,
        "retry.max_retry_after": settings.retry.max_retry_after,
        "retry.total_time": settings.retry.total_time,
    }
    not_negative.update({f"cache_ttl_by_kind.{kind}": ttl for kind, ttl in settings.cache_ttl_by_kind.items()})
    for key, number in not_negative.items():
        if number < 0:
            raise ConfigError(f"'{key}' must not be negative, got {number:g}")
    by_kind = {"cache_ttl_by_kind": settings.cache_ttl_by_kind, "cache_spread": settings.cache_spread}
    named_kinds = {key: set(named) for key, named in by_kind.items() if not isinstance(named, bool) and named}
    if named_kinds:
        from .model import Kind  # deferred: most configs name no kind

        kinds = [kind.value for kind in Kind]
        for key, named in named_kinds.items():
            unknown_kinds = sorted(named - set(kinds))
            if unknown_kinds:
                raise ConfigError(f"'{key}' has unknown kind {unknown_kinds[0]!r} (one of {', '.join(kinds)})")
    if settings.github.batch_size > 100:
        raise ConfigError("'github.batch_size' must be at most 100 (GitHub's GraphQL node limit per query)")
    if not 0 <= settings.doi.crossref_batch <= CROSSREF_MAX_BATCH:
        raise ConfigError(f"'doi.crossref_batch' must be between 0 (off) and {CROSSREF_MAX_BATCH}, "
                          f"got {settings.doi.crossref_batch}")
    for key in ("exclude", "include"):
        for i, pattern in enumerate(getattr(settings, key)):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"'{key}[{i}]' is not a valid regex ({exc}): {pattern!r}") from exc
    if settings.event_loop not in EVENT_LOOPS:
        raise ConfigError(f"'event_loop' must be one of {', '.join(EVENT_LOOPS)}, got {settings.event_loop!r}")
    valid = {"ok", "redirected", "broken", "blocked", "error", "skipped"}
    for status in settings.policy.fail_on:
        if status not in valid:
            raise ConfigError(f"'policy.fail_on' has unknown status {status!r} (one of {', '.join(sorted(valid))})")
    for entry in settings.hosts:
        if entry.concurrency is not None and entry.concurrency < 1:
            raise ConfigError(f"'hosts' entry {entry.host!r}: concurrency must be at least 1")
        if entry.min_interval is not None and entry.min_interval < 0:
            raise ConfigError(f"'hosts' entry {entry.host!r}: min_interval must not be negative")
        if entry.timeout is not None and entry.timeout <= 0:
            raise ConfigError(f"'hosts' entry {entry.host!r}: timeout must be positive")


def settings_from_mapping(data: Mapping[str, Any], *, origin: str = "config") -> Settings:
    """Build validated ``Settings`` from an already-parsed mapping; errors name ``origin``."""
    try:
        settings = _build(Settings, data, "")
        _validate(settings)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc
    return typing.cast(Settings, settings)


def load_settings(path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read ``path`` (YAML; optional), apply ``overrides`` (dotted keys allowed) and validate.

    With ``path`` None, ``./config.yaml`` is not read implicitly: the defaults
    are the documented defaults, so a run is reproducible from its flags.
    """
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        import yaml  # deferred: keeps `linkaudit --help` fast

        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: invalid YAML{where}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        data = loaded
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return settings_from_mapping(data, origin=origin)
