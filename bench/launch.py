"""Run one command and report its own resource usage: ``python -S bench/launch.py REPORT_FD ARGV...``.

Not a benchmark: ``harness.run_measured`` starts every measured tool through
this small launcher.  Linux keeps a process's peak RSS across ``exec`` and
hands a forked child its parent's peak, so a tool started straight from a
bench process that holds a big catalog and a web server reports that
process's peak as its own (a ``python -c pass`` started from a 200 MB
process reports 213 MB).  Started from this launcher, which holds next to
nothing, ``wait4`` gives the tool's own peak.  The launcher writes one line to
``REPORT_FD``: wall seconds, user and system CPU seconds, peak RSS in KiB and
the exit status of the tool, measured around its fork and ``wait4``.
"""

import os
import sys
import time


def main() -> None:
    report = int(sys.argv[1])
    argv = sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report)
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"launch.py: cannot run {argv[0]}: {exc.strerror or exc}\n".encode())
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.write(report, f"{wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss} {status}\n".encode())
    os.close(report)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
