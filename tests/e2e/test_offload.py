#!/usr/bin/env python3
"""The offload pool through nginx (apps/stream's /stream/offload, and
tests/apps/testapp's /offload-block), and recycling while streams and jobs
are in flight:

- blocking work runs off the loop: a quick request on the same (single)
  worker is answered while five jobs still block; the pool's threads
  (offload_threads, 4 by default) start in the worker as jobs come, none
  in the master;
- cancellation: a client that leaves, and `timeout` (the client gets its
  504 at once), stop the work early (it polls fw_offload_cancelled) and
  still run done, marked cancelled; a stream silent for `timeout` is cut;
- a job stuck for twice `timeout` makes its worker retire, and the old
  worker waits for it;
- a reload (SIGHUP) while server-sent events, a download, an upload and a
  job are in flight: each completes whole, and the old worker exits after
  them; with a short graceful_timeout, what is left is cut off at it and
  everything else goes on.

Every wait has a generous bound; nothing is timed."""
import os
import signal
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import stream_common as sc  # noqa: E402
import test_recycle_common as rc  # noqa: E402

ASAN = 'address' in os.environ.get('FW_SANITIZE', '')


def start_stream(t, **keys):
    keys.setdefault('status_path', rc.STATUS)
    keys.setdefault('workers', 1)
    return t.start_app('stream', env=rc.env(**keys), workers=1)


def log_count(app, needle):
    return app.log_text().count(needle)


def threads(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(next(ln for ln in f if ln.startswith('Threads:')).split()[1])


def quick_section(t, app, port):
    with t.section('a quick request is answered while five jobs block the pool of four'):
        answers = {}
        master, worker = app.pid, app.workers()[0]
        t.equal('before any job: the master and the worker have one thread each',
                (threads(master), threads(worker)), (1, 1))

        def job(i):
            answers[i] = harness.http(port, 'GET', '/stream/offload?ms=4000')

        jobs = [threading.Thread(target=job, args=(i,), daemon=True) for i in range(5)]
        for th in jobs:
            th.start()
        t.check('the five are in flight', harness.wait_until(lambda: sc.in_flight(app) == 5, 20),
                sc.in_flight(app))
        t.equal('the worker runs offload_threads (4 by default) pool threads, not one a job',
                threads(worker), 1 + 4)
        t.equal('the master still has one (threads start in workers, after fork)', threads(master), 1)
        r = harness.http(port, 'GET', '/stream/events?n=1&ms=0')
        t.check('the quick request is answered', r.status == 200 and r.body == b'data: 0\n\n', r)
        t.equal('... while no job has answered yet', len(answers), 0)
        for th in jobs:
            th.join(60)
        t.check('then each job answers "slept 4000" (the fifth after a thread was free)',
                all(answers.get(i) and answers[i].status == 200 and answers[i].body == b'slept 4000\n'
                    for i in range(5)), answers)


def cancel_section(t, app, port):
    with t.section('a client that leaves cancels its job: work stops early, done still runs'):
        stopped = log_count(app, 'sleep stopped after')
        done = log_count(app, 'done for a cancelled request')
        r = sc.HttpStream(port, 'GET', '/stream/offload?ms=20000')
        t.check('it is in flight', harness.wait_until(lambda: sc.in_flight(app) == 1, 20))
        r.close()
        t.check('work saw fw_offload_cancelled() and stopped (logged from its pool thread)',
                harness.wait_until(lambda: log_count(app, 'sleep stopped after') > stopped, 15))
        t.check('done ran, with fw_cancelled()',
                harness.wait_until(lambda: log_count(app, 'done for a cancelled request') > done, 15))
        t.check('nothing in flight', harness.wait_until(lambda: sc.in_flight(app) == 0, 15))
        r = harness.http(port, 'GET', '/stream/offload?ms=10')
        t.check('the pool serves on', r.status == 200 and r.body == b'slept 10\n', r)


def timeout_section(t, port):
    app = start_stream(t, timeout=2)
    with t.section('timeout: the client gets its 504 at once; work stops; done runs, cancelled'):
        done = log_count(app, 'done for a cancelled request')
        r = harness.http(port, 'GET', '/stream/offload?ms=60000', timeout=60)
        t.equal('504 after timeout (2 s), not after the work', r.status, 504)
        t.check('done ran, with fw_cancelled()',
                harness.wait_until(lambda: log_count(app, 'done for a cancelled request') > done, 15))
    with t.section('timeout: a stream silent for longer is cut off'):
        r = sc.HttpStream(port, 'GET', '/stream/events?n=2&ms=30000')
        t.equal('200', r.read_head(), 200)
        t.equal('the first event', r.read_until(b'data: 0\n\n'), b'data: 0\n\n')
        r.read_all()
        t.check('then the connection closes without the end of the stream', r.eof and not r.done)
        t.check('fw says why', 'streamed response silent for timeout' in app.log_text())
        r.close()
    app.stop()


def stuck_job_section(t, port):
    app = rc.start(t, name='hello', workers=1, timeout=2, graceful_timeout=30)
    with t.section('a job stuck for twice timeout retires its worker, which waits for it'):
        old = app.workers()
        r = harness.http(port, 'GET', '/offload-block?ms=9000', timeout=60)
        t.equal('the client got its 504 at timeout', r.status, 504)
        t.check('the worker says why it retires',
                harness.wait_until(lambda: 'over twice timeout' in app.log_text(), 20),
                app.log_text()[-1500:])
        s = rc.wait_status(app.sock, lambda s: s['recycled']['timeout'] >= 1, 30)
        t.check('recycled for "timeout" once the job is over and its done ran',
                s is not None and s['recycled']['timeout'] >= 1, s and s['recycled'])
        t.check('done ran first (the old worker waited for it)',
                'offload-block: 9000 ms over, for a cancelled request' in app.log_text())
        new = app.workers()
        t.check(f'a new worker serves ({old} -> {new})', len(new) == 1 and new != old, (old, new))
        r = harness.http(port, 'GET', '/hello')
        t.check('and answers', r.status == 200, r)
    app.stop()


def reload_section(t, app, port):
    with t.section('reload while a stream, a download, an upload and a job are in flight'):
        old = app.workers()
        results = {}

        def events():
            r = sc.HttpStream(port, 'GET', '/stream/events?n=8&ms=400')
            r.read_head()
            results['events'] = (r.read_until(b'data: 7\n\n'), r.read_some(), r.done)
            r.close()

        def download():
            r = sc.HttpStream(port, 'GET', '/stream/bytes?mb=32', rcvbuf=8192)
            r.read_head()
            results['download'] = r.read_all(pace_bytes_per_s=10 << 20, check_pattern=True)
            r.close()

        def job():
            results['job'] = harness.http(port, 'GET', '/stream/offload?ms=2500')

        def up():
            results['upload'] = sc.upload(port, '/stream/sha256', 24 << 20, pace=8 << 20)

        threads = [threading.Thread(target=f, daemon=True) for f in (events, download, job, up)]
        for th in threads:
            th.start()
        t.check('all four in flight',
                harness.wait_until(lambda: sc.in_flight(app) == 4, 20), sc.in_flight(app))
        app.send_signal(signal.SIGHUP)
        t.check('a new worker is ready beside the old one',
                harness.wait_until(lambda: len(app.workers()) == 2, 20), app.workers())
        r = harness.http(port, 'GET', '/stream/offload?ms=1')
        t.check('a new request meanwhile is served', r.status == 200, r)
        for th in threads:
            th.join(120)
        ev = results.get('events')
        t.check('the events stream is whole', ev and ev[0] == b''.join(b'data: %d\n\n' % i for i in range(8))
                and ev[2], ev)
        t.equal('the download is whole and intact', results.get('download'), (32 << 20, True))
        j = results.get('job')
        t.check('the job answered', j and j.status == 200 and j.body == b'slept 2500\n', j)
        t.equal('the upload was hashed whole', results.get('upload'),
                (200, f'{24 << 20} {sc.pattern_sha(24 << 20)}\n'.encode()))
        t.check('the old worker exits after them', harness.wait_pids_gone(old, 30), old)


def graceful_cut_section(t, port):
    app = start_stream(t, graceful_timeout=3)
    with t.section('graceful_timeout cuts off what is still in flight, and only that'):
        old = app.workers()
        r = sc.HttpStream(port, 'GET', '/stream/events?n=1000&ms=1000')
        t.equal('a long stream starts', r.read_head(), 200)
        job = {}
        th = threading.Thread(target=lambda: job.update(r=harness.http(port, 'GET', '/stream/offload?ms=600000')),
                              daemon=True)
        th.start()
        t.check('both in flight', harness.wait_until(lambda: sc.in_flight(app) == 2, 20), sc.in_flight(app))
        app.send_signal(signal.SIGHUP)
        t.check('the old worker exits at graceful_timeout', harness.wait_pids_gone(old, 30), old)
        r.read_all()
        t.check('the stream is cut off (no end of stream)', r.eof and not r.done)
        r.close()
        th.join(60)
        t.check('the job\'s client gets nginx\'s 502', job.get('r') is not None and job['r'].status == 502,
                job)
        t.check('the worker said what it cut off',
                'graceful_timeout reached with 2 connection(s), 2 request(s) and 1 offloaded job(s)'
                in app.log_text(), app.log_text()[-1500:])
        r = harness.http(port, 'GET', '/stream/offload?ms=1')
        t.check('the new worker serves', r.status == 200, r)
    app.stop()


def main(t):
    app = start_stream(t)
    port = t.start_nginx().port
    quick_section(t, app, port)
    cancel_section(t, app, port)
    reload_section(t, app, port)
    app.stop()
    # The same socket paths, new masters: nginx drops its kept connections to the old ones.
    timeout_section(t, port)
    stuck_job_section(t, port)
    graceful_cut_section(t, port)
    # The cut-offs above log warnings on purpose, nginx its upstream errors (502s).
    for p in t.procs:
        if isinstance(p, harness.Nginx):
            continue
        bad = [ln for ln in p.log_text().splitlines() if '[error]' in ln]
        t.check(f'no error lines in the log of {p.name} (pid {p.pid})', not bad, bad[:5])
    sc.sanitizer_reports(t)


harness.run(main)
