"""Writing a file all at once or not at all: reports and ``--output`` files.

The text goes to a new file beside the target, created exclusively under a name no one else holds
(``.NAME.<pid>.<random>.tmp``), which then replaces the target in one rename.  A reader never sees a
half-written report, a run that fails or is interrupted leaves the old file as it was and no
temporary file behind, and no file of the user's is touched on the way (a fixed name such as
``NAME.tmp`` would be overwritten, then renamed away).  The new file gets the usual permissions
(``0666`` less the umask), as an ``open(path, "w")`` would give it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_ATTEMPTS = 16


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new, empty file in ``path``'s directory, under a name that was free: (its path, an open descriptor)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_atomically(path: Path, pieces: Iterable[str]) -> None:
    """Write the concatenation of ``pieces`` (UTF-8) to ``path``, replacing it in one step.

    ``pieces`` may be a generator: it is consumed while writing, so a large document is never
    whole in memory.  When ``path`` is a symbolic link, the file it points at is replaced and the link
    kept.  Raises ``OSError`` (the target unchanged) when the directory cannot be
    written or the disk fills up; any exception (an interrupt too) removes the temporary file.
    """
    if path.is_symlink():  # a report linked into the user's docs: the link stays, its target is replaced
        path = Path(os.path.realpath(path))
    tmp, fd = _create_beside(path)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            for piece in pieces:
                handle.write(piece)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
