"""Fatal problems, as exceptions.  Problems with a *link* are verdicts (data), never exceptions.

    LinkauditError
     ├── ConfigError         bad config file, flag or value          -> exit 2
     ├── InputError          missing/unreadable/binary input         -> exit 2
     ├── StoreError          history database unusable               -> exit 2
     └── NetworkUnavailable  nothing at all could be reached         -> exit 3

Only ``cli.py`` turns these into a one-line message and an exit code.

    KeyboardInterrupt        Ctrl-C (SIGINT) while checking          -> exit 130
     └── Terminated          SIGTERM while checking                  -> exit 143
"""

from __future__ import annotations


class LinkauditError(Exception):
    """Base of every fatal linkaudit error; ``str(exc)`` is the one-line message for the user."""


class ConfigError(LinkauditError):
    """The configuration (file, flags or environment) is invalid."""


class InputError(LinkauditError):
    """An input path is missing, unreadable, binary, or holds nothing to read."""


class StoreError(LinkauditError):
    """The history/cache database is corrupt, newer than this version, or locked."""


class NetworkUnavailable(LinkauditError):
    """No host at all could be reached: this machine (or its proxy) is offline."""


class Terminated(KeyboardInterrupt):
    """SIGTERM during the checks (a CI job cancelled or timed out): handled as an interrupt, exit 143."""
