#!/usr/bin/env python3
"""How long `APP --probe live|ready` takes, beside the floor of starting any
process (/bin/true), in interleaved rounds.

The probe is a process that reads the scoreboard file and exits: most of
its time is the process start, which a test cannot assert on a machine
that may be busy (tests/e2e/test_probes.py prints its figures, nothing
more). Here it is measured on a quiet machine, as the ratio to the floor.

  bench/probe.py [--build build] [--runs 200] [--rounds 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import benchlib as b


def timed(argv, env):
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(b.ROOT, 'build'))
    ap.add_argument('--runs', type=int, default=200, help='probes of each kind per round')
    ap.add_argument('--rounds', type=int, default=5)
    args = ap.parse_args()
    app_bin = os.path.join(args.build, 'apps', 'hello')
    tmp = tempfile.mkdtemp(prefix='fw-bench-probe-')
    state, sock = os.path.join(tmp, 'probe.state'), os.path.join(tmp, 'hello.sock')
    env = {k: v for k, v in os.environ.items() if not k.startswith('FW_SERVER_')}
    env.update({'FW_SERVER_LISTEN': sock, 'FW_SERVER_STATE_PATH': state})
    app = b.start_app(app_bin, sock, {'FW_SERVER_WORKERS': '2', 'FW_SERVER_STATE_PATH': state},
                      os.path.join(tmp, 'hello.log'))
    ini = os.path.join(b.ROOT, 'conf', 'fw.ini')
    kinds = {
        'floor': ['/bin/true'],
        'live': [app_bin, '-c', ini, '--probe', 'live'],
        'ready': [app_bin, '-c', ini, '--probe', 'ready'],
    }
    times = {k: [] for k in kinds}
    try:
        for r in range(args.rounds):
            order = list(kinds)[r % 3:] + list(kinds)[:r % 3]
            for _ in range(args.runs):
                for k in order:
                    times[k].append(timed(kinds[k], env))
    finally:
        b.stop_app(app)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    p99 = {k: sorted(v)[int(len(v) * 0.99)] * 1000 for k, v in times.items()}
    rows = [['', 'median ms', 'p99 ms', 'x floor']]
    for k in kinds:
        rows.append([k, f'{med[k]:.2f}', f'{p99[k]:.2f}', f'{med[k] / med["floor"]:.2f}'])
    print(b.table(rows, False))


if __name__ == '__main__':
    main()
