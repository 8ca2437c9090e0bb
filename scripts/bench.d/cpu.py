#!/usr/bin/env python3
"""Runs commands interleaved and reports each one's CPU per run (scripts/bench client).

  cpu.py N LABEL1 CMD1 [LABEL2 CMD2 ...]

CMD is a shell-free command template split on spaces; {i} becomes the run number (1..N) and {u} a
token unique to this invocation (servers refuse a subject they issued before). Run i of
every command happens before run i+1 of any, in an order that rotates, so drift of the machine
(frequency, a neighbour's load) falls on all commands alike. CPU is user + system of the child
from wait4(2), microsecond resolution, threads included. Prints one markdown row per command."""
import os
import sys
import time


def main():
    n = int(sys.argv[1])
    pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    cpu = {label: 0.0 for label, _ in pairs}
    wall = {label: 0.0 for label, _ in pairs}
    failed = {label: 0 for label, _ in pairs}
    token = "%d-%d" % (os.getpid(), int(time.time()))
    for i in range(1, n + 1):
        order = pairs[i % len(pairs):] + pairs[:i % len(pairs)]
        for label, template in order:
            argv = [a.replace("{i}", str(i)).replace("{u}", token) for a in template.split()]
            t0 = time.monotonic()
            pid = os.fork()
            if pid == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                try:
                    os.execvp(argv[0], argv)
                finally:
                    os._exit(127)
            _, status, ru = os.wait4(pid, 0)
            wall[label] += time.monotonic() - t0
            cpu[label] += ru.ru_utime + ru.ru_stime
            if os.waitstatus_to_exitcode(status) != 0:
                failed[label] += 1
    for label, _ in pairs:
        print("| %-31s | %5d | %9.1f | %13.1f | %8.1f |%s" % (
            label, n, wall[label] / n * 1000, cpu[label] / n * 1000, n / wall[label],
            "" if not failed[label] else " %d failed" % failed[label]))


if __name__ == "__main__":
    main()
