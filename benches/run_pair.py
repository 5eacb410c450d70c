#!/usr/bin/env python3
"""Runs two commands alternately and prints the median wall time and peak RSS of each.

    run_pair.py RUNS OUT_A OUT_B -- COMMAND_A... -- COMMAND_B...

Each run's wall time is taken by this process around starting the command and reaping it
(spawn, exec and exit included: what a user waits for). The two commands take turns, the
first of each round alternating, so that the machine's slower and faster moments fall on
both. The peak RSS is measured apart, by GNU time over three more runs of each (the kernel
counts a child's memory from before its exec, so a large parent such as this interpreter
would inflate a small program's figure). The standard output of the last run of each goes to
OUT_A and OUT_B, its standard error to OUT_A.err and OUT_B.err. Prints one line:
"A_median_us A_median_kib B_median_us B_median_kib".
"""
import statistics
import subprocess
import sys
import time


def run_once(command, out_path):
    """Wall time of one run, in microseconds."""
    with open(out_path, "wb") as out, open(out_path + ".err", "wb") as err:
        start = time.perf_counter_ns()
        subprocess.run(command, stdout=out, stderr=err, check=False)
        return (time.perf_counter_ns() - start) // 1000


def peak_kib(command):
    """Median peak RSS of three runs, as GNU time reports it."""
    peaks = []
    for _ in range(3):
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        peaks.append(int(done.stderr.decode().strip().splitlines()[-1]))
    return statistics.median(peaks)


def main():
    runs, out_a, out_b = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    rest = sys.argv[4:]
    if rest[:1] != ["--"] or "--" not in rest[1:]:
        sys.exit(__doc__)
    split = rest.index("--", 1)
    commands = [(rest[1:split], out_a), (rest[split + 1 :], out_b)]
    times = ([], [])
    for round_ in range(runs):
        order = (0, 1) if round_ % 2 == 0 else (1, 0)
        for which in order:
            times[which].append(run_once(*commands[which]))
    line = []
    for which, (command, _) in enumerate(commands):
        line += [str(int(statistics.median(times[which]))), str(int(peak_kib(command)))]
    print(" ".join(line))


if __name__ == "__main__":
    main()
