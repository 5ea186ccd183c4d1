#!/usr/bin/env python3
"""bench/http-pool.py - pool the rounds of several bench/http runs.

One bench/http run of 24 rounds still leaves tlsgate's ratio to a peer
uncertain by several percent on a shared 2-vCPU machine: a round's three
runs are seconds apart and the machine's speed moves in between. Runs of
the same build and settings can be pooled: this reads the progress lines
bench/http writes to standard error ("  h1 tlsgate: 50000 requests in
2.1s, proxy cpu=1.8s, ...", one per proxy, scenario and round; save them
with 2>FILE) and prints, for each of h1 and h2:
  - tlsgate's ratio to each peer per proxy CPU-second, taken within each
    round, median over the pooled rounds, with a 95% bootstrap interval
    (the rounds resampled 4,000 times, a fixed seed);
  - the ratio of the medians, against the peer with the best median.

Usage: bench/http-pool.py FILE...   (each FILE: one run's standard error)
"""
import math
import random
import re
import statistics
import sys

LINE = re.compile(r"\s+(h1|h2) (\S+): (\d+) requests in [\d.]+s, "
                  r"proxy cpu=([\d.]+)s")
ROUND = re.compile(r"round (\d+)$")


def load(paths):
    """{scenario: {proxy: {(file, round): requests per CPU-second}}}"""
    d = {}
    for path in paths:
        rnd = 0
        with open(path) as f:
            for line in f:
                m = ROUND.match(line.strip())
                if m:
                    rnd = int(m.group(1))
                    continue
                m = LINE.match(line)
                if m and float(m.group(4)) > 0:
                    d.setdefault(m.group(1), {}).setdefault(m.group(2), {})[
                        (path, rnd)] = int(m.group(3)) / float(m.group(4))
    return d


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[-1].strip())
    random.seed(1)
    data = load(sys.argv[1:])
    if not data:
        sys.exit("http-pool: no bench/http progress lines in " +
                 " ".join(sys.argv[1:]))
    for sc in sorted(data):
        pp = data[sc]
        if "tlsgate" not in pp or len(pp) < 2:
            continue
        rounds = sorted(set.intersection(*(set(v) for v in pp.values())))
        if not rounds:
            continue
        peers = sorted(p for p in pp if p != "tlsgate")
        print("%s: %d rounds from %d file(s)" % (
            sc, len(rounds), len({r[0] for r in rounds})))
        for p in peers:
            a = [pp["tlsgate"][r] / pp[p][r] for r in rounds]
            boot = sorted(statistics.median(random.choices(a, k=len(a)))
                          for _ in range(4000))
            print("  tlsgate / %s in the same round: median %.2fx "
                  "(95%% interval %.2fx..%.2fx; geometric mean %.2fx)" % (
                      p, statistics.median(a), boot[100], boot[3899],
                      math.exp(statistics.mean(math.log(x) for x in a))))
        med = {p: statistics.median(pp[p][r] for r in rounds) for p in pp}
        best = max(peers, key=lambda p: med[p])
        print("  ratio of the medians: %.2fx (%s)" % (
            med["tlsgate"] / med[best], best))


if __name__ == "__main__":
    main()
