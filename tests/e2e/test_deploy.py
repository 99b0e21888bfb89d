#!/usr/bin/env python3
"""The deployment files of conf/ do what they say.

- conf/systemd: the unit passes `systemd-analyze verify` and scores well in
  `systemd-analyze security`; its commands (ExecStartPre, ExecStart,
  ExecReload, KillSignal with KillMode=mixed) run a server from its ini,
  which speaks sd_notify, drops to its user and stops within TimeoutStopSec.
- conf/k8s: the manifests pass the Kubernetes schema (npm kubernetes-models,
  JSON schemas of the Kubernetes API); what ties them together holds (the
  shared socket volume, probe commands, grace period against
  graceful_timeout); the ConfigMap's ini and nginx config serve a request
  together, and the pod's probe commands answer.
- conf/k8s/Dockerfile: its build stage, run here as written, builds and
  installs the app; its runtime stage installs every library it needs.
"""
import json
import os
import pwd
import grp
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
import test_recycle_common as rc  # noqa: E402

CONF = os.path.join(harness.SOURCE_DIR, 'conf')
UNIT = os.path.join(CONF, 'systemd', 'fw-hello.service')
UNIT_INI = os.path.join(CONF, 'systemd', 'hello.ini')
K8S = os.path.join(CONF, 'k8s')
DOCKERFILE = os.path.join(K8S, 'Dockerfile')
HELLO = harness.app_binary('hello')
# Pinned: the schema of a known Kubernetes (1.27) and a parser for YAML 1.2.
NPM_PACKAGES = ['kubernetes-models@4.5.1', 'yaml@2.9.1']
CMD_TIMEOUT = 60
BUILD_TIMEOUT = 600


# ------------------------------------------------------------ file parsers

def parse_unit(path):
    """{section: [(key, value)]} of a systemd unit, continuation lines joined."""
    out, section, pending = {}, None, ''
    with open(path) as f:
        for raw in f:
            line = pending + raw.strip()
            pending = ''
            if line.endswith('\\'):
                pending = line[:-1] + ' '
                continue
            if not line or line[0] in '#;':
                continue
            if line.startswith('[') and line.endswith(']'):
                section = line[1:-1]
                out.setdefault(section, [])
            elif '=' in line and section:
                k, v = line.split('=', 1)
                out[section].append((k.strip(), v.strip()))
    return out


def unit_get(unit, section, key):
    """The value that counts (the last one), or None."""
    vals = [v for k, v in unit.get(section, []) if k == key]
    return vals[-1] if vals else None


def ini_get(text, key):
    """A [server] key of an fw ini (inline ; comments removed), or None."""
    for line in text.splitlines():
        m = re.match(r'\s*(\w+)\s*=\s*(.*)$', line)
        if m and m.group(1) == key:
            return m.group(2).split(';')[0].strip()
    return None


def listen_paths(listen):
    """The unix socket paths of a listen list."""
    out = []
    for entry in re.split(r'[,\s]+', listen.strip()):
        entry = re.sub(r'^(fastcgi|scgi):', '', entry)
        entry = re.sub(r'^unix:', '', entry)
        if entry.startswith('/'):
            out.append(entry)
    return out


def parse_dockerfile(path):
    """[(stage name or index, [(instruction, argument)])], continuations joined."""
    stages, pending = [], ''
    with open(path) as f:
        for raw in f:
            line = pending + raw.rstrip('\n')
            pending = ''
            if line.rstrip().endswith('\\'):
                pending = line.rstrip()[:-1] + ' '
                continue
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            inst, _, arg = line.partition(' ')
            inst = inst.upper()
            if inst == 'FROM':
                stages.append([])
            if not stages:
                raise harness.HarnessError(f'{path}: {inst} before FROM')
            stages[-1].append((inst, arg.strip()))
    return stages


def run_cmd(argv, env=None, cwd=None, timeout=CMD_TIMEOUT):
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def proc_euid(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[2])
    return None


# ----------------------------------------------------------------- systemd

def section_unit_static(t, unit, ini):
    with t.section('systemd unit: the settings the deployment relies on'):
        svc = lambda k: unit_get(unit, 'Service', k)  # noqa: E731
        t.equal('Type=notify', svc('Type'), 'notify')
        t.equal('NotifyAccess=main: only the master speaks for the service', svc('NotifyAccess'), 'main')
        t.equal('ExecReload sends SIGHUP to the master', svc('ExecReload'), '/bin/kill -HUP $MAINPID')
        t.equal('KillSignal=SIGTERM', svc('KillSignal'), 'SIGTERM')
        t.equal('KillMode=mixed: SIGTERM to the master alone, which drains its workers',
                svc('KillMode'), 'mixed')
        grace = int(ini_get(ini, 'graceful_timeout') or 30)
        stop = svc('TimeoutStopSec') or ''
        t.check(f'TimeoutStopSec ({stop}) is longer than the ini\'s graceful_timeout ({grace})',
                stop.isdigit() and int(stop) > grace)
        start = shlex.split(svc('ExecStart') or '')
        t.check('ExecStart runs the app with -c /etc/fw/hello.ini',
                start[1:] == ['-c', '/etc/fw/hello.ini'], start)
        t.equal('ExecStartPre checks that ini first', shlex.split(svc('ExecStartPre') or ''), start + ['-t'])
        for key, want in [('NoNewPrivileges', 'yes'), ('ProtectSystem', 'strict'), ('ProtectHome', 'yes'),
                          ('PrivateTmp', 'yes'), ('PrivateDevices', 'yes'), ('RestrictSUIDSGID', 'yes'),
                          ('MemoryDenyWriteExecute', 'yes'), ('SystemCallArchitectures', 'native')]:
            t.equal(f'hardening: {key}={want}', svc(key), want)
        caps = set((svc('CapabilityBoundingSet') or '').split())
        t.equal('capabilities: only what the drop and the socket need', caps,
                {'CAP_SETUID', 'CAP_SETGID', 'CAP_CHOWN'})
        rundir = '/run/' + (svc('RuntimeDirectory') or '?') + '/'
        paths = listen_paths(ini_get(ini, 'listen') or '') + [ini_get(ini, 'state_path') or '']
        t.check(f'the sockets and the state file are in the RuntimeDirectory {rundir}',
                paths and all(p.startswith(rundir) for p in paths), paths)
        t.check('the ini drops privileges (user and group set)', ini_get(ini, 'user') and ini_get(ini, 'group'))

    with t.section('systemd unit: systemd-analyze'):
        sa = shutil.which('systemd-analyze')
        if not t.check('systemd-analyze is installed (package systemd)', sa):
            return
        # verify wants the binaries it names to exist: point them at the build.
        copy = t.path('fw-hello.service')
        with open(UNIT) as f:
            text = f.read()
        with open(copy, 'w') as f:
            f.write(text.replace(start_binary(unit), HELLO))
        code, out = run_cmd([sa, 'verify', copy])
        t.check('systemd-analyze verify: no complaint', code == 0 and 'fw-hello.service' not in out,
                f'exit {code}: {out}')
        code, out = run_cmd([sa, 'security', '--offline=yes', '--no-pager', copy])
        m = re.search(r'Overall exposure level for fw-hello.service: ([0-9.]+) (\w+)', out)
        print(f'# systemd-analyze security: {m.group(0) if m else out[-300:]}', flush=True)
        t.check('systemd-analyze security: exposure at most 3.0 of 10 (OK or better)',
                m and float(m.group(1)) <= 3.0, out[-500:])


def start_binary(unit):
    return shlex.split(unit_get(unit, 'Service', 'ExecStart'))[0]


def section_unit_run(t, unit, ini):
    """Run the unit's commands the way systemd would, with the runtime
    directory moved to the temp dir."""
    svc = lambda k: unit_get(unit, 'Service', k)  # noqa: E731
    rundir_name = svc('RuntimeDirectory')
    rundir = t.path('run-' + rundir_name)
    os.mkdir(rundir, 0o755)  # systemd makes it root's, RuntimeDirectoryMode=0755
    os.chmod(rundir, 0o755)
    move = lambda p: p.replace(f'/run/{rundir_name}/', rundir + '/')  # noqa: E731
    binary = start_binary(unit)
    # In place of /etc/fw/hello.ini: a copy the dropped user can read when a
    # reload reads it again (the source tree may be in a private directory).
    etc_ini = t.path('hello.ini')
    shutil.copyfile(UNIT_INI, etc_ini)
    os.chmod(etc_ini, 0o644)
    argv = lambda cmd: [HELLO if a == binary else etc_ini if a == '/etc/fw/hello.ini' else a  # noqa: E731
                        for a in shlex.split(cmd)]
    env = {k: v for k, v in os.environ.items() if not k.startswith('FW_SERVER_')}
    for kv in [v for k, v in unit.get('Service', []) if k == 'Environment']:
        name, _, value = kv.partition('=')
        env[name] = value
    env['FW_SERVER_LISTEN'] = move(ini_get(ini, 'listen'))
    env['FW_SERVER_STATE_PATH'] = move(ini_get(ini, 'state_path'))
    env['FW_SERVER_STATUS_LISTEN'] = move(ini_get(ini, 'status_listen'))
    root = os.geteuid() == 0
    if not root:  # no drop, no chown: the rest still runs
        env.update(FW_SERVER_USER='', FW_SERVER_GROUP='', FW_SERVER_SOCKET_GROUP='')
    sock_path = listen_paths(env['FW_SERVER_LISTEN'])[0]

    with t.section('systemd unit: ExecStartPre accepts the shipped ini'):
        code, out = run_cmd(argv(svc('ExecStartPre')), env=env)
        t.check('exit 0', code == 0, out)

    notify = harness.notify_listener(t.path('notify.sock'))
    os.chmod(t.path('notify.sock'), 0o777)  # as systemd's: the master sends after its drop
    env['NOTIFY_SOCKET'] = t.path('notify.sock')
    got = []
    try:
        start = argv(svc('ExecStart'))
        app = rc.ConfApp(t, 'hello-systemd', sock_path, t.log_path('hello-systemd'), env, start[0], start[2])
        with t.section('systemd unit: ExecStart serves, READY=1, as the ini\'s user'):
            t.check('READY=1', harness.wait_notify(notify, got, 'READY=1', harness.START_TIMEOUT), got)
            app.wait_ready()
            code, _, body, _ = harness.fcgi_get(sock_path, '/hello')
            t.check('GET /hello over the socket: 200 hello', code == 200 and body == b'hello\n', (code, body))
            status = ini_get(ini, 'status_path')
            code, _, body, _ = harness.fcgi_get(env['FW_SERVER_STATUS_LISTEN'], status)
            t.check(f'GET {status} over status_listen: the status page', code == 200 and b'"workers"' in body,
                    (code, body[:200]))
            code, _, body, _ = harness.fcgi_get(sock_path, status)
            t.equal(f'GET {status} over the app\'s socket: the app\'s 404', code, 404)
            code, out = run_cmd(start + ['--probe', 'ready'], env=env)
            t.check('--probe ready with the unit\'s command line: exit 0', code == 0, out)
            if root:
                user = pwd.getpwnam(ini_get(ini, 'user'))
                ids = {proc_euid(p) for p in [app.pid] + app.workers()}
                t.equal(f'master and workers run as {user.pw_name}', ids, {user.pw_uid})
                st = os.stat(sock_path)
                t.equal('the socket belongs to socket_group',
                        grp.getgrgid(st.st_gid).gr_name, ini_get(ini, 'socket_group'))
                t.equal('socket mode as socket_mode', oct(st.st_mode & 0o777), oct(int(ini_get(ini, 'socket_mode'), 8)))
        with t.section('systemd unit: ExecReload -> RELOADING=1, then READY=1'):
            got.clear()
            reload = shlex.split(svc('ExecReload').replace('$MAINPID', str(app.pid)))
            code, out = run_cmd(reload)
            t.check(f'{" ".join(reload)}: exit 0', code == 0, out)
            t.check('RELOADING=1', harness.wait_notify(notify, got, 'RELOADING=1', harness.WAIT), got)
            t.check('READY=1 after it', harness.wait_notify(
                notify, [x for x in got if 'RELOADING=1' not in x[1]], 'READY=1', 30), got)
            code, _, body, _ = harness.fcgi_get(sock_path, '/hello')
            t.equal('still serving after the reload', (code, body), (200, b'hello\n'))
        with t.section('systemd unit: KillSignal to the master alone (KillMode=mixed) stops it in time'):
            workers = app.workers()
            t0 = time.monotonic()
            os.kill(app.pid, getattr(signal, svc('KillSignal')))
            limit = int(svc('TimeoutStopSec'))
            try:
                code = app.popen.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - t0
            got += harness.recv_notify(notify, 0.5)
            t.check('STOPPING=1', any('STOPPING=1' in x for _, x in got), got)
            t.check(f'exit 0 within TimeoutStopSec ({limit} s)', code == 0, f'exit {code} after {took:.1f} s')
            t.check('no worker left for systemd to kill', harness.wait_pids_gone(workers, harness.WAIT), workers)
        bad = rc.error_lines(app.log_text())
        t.check('no error lines in its log', not bad, '\n'.join(bad[:10]))
    finally:
        notify.close()


# -------------------------------------------------------------- kubernetes

NODE_VALIDATE = r"""
'use strict';
// argv: node_modules, then the manifest files. Prints JSON:
// {docs: [{file, kind, errors, object}], negative: [errors of broken copies]}
const path = require('path');
const fs = require('fs');
const mods = process.argv[2];
const YAML = require(path.join(mods, 'yaml'));
const models = {
  'v1/ConfigMap': () => require(path.join(mods, 'kubernetes-models/v1')).ConfigMap,
  'v1/Service': () => require(path.join(mods, 'kubernetes-models/v1')).Service,
  'apps/v1/Deployment': () => require(path.join(mods, 'kubernetes-models/apps/v1')).Deployment,
};
function check(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (!models[key]) return [`no schema for ${key} in this check`];
  try { new (models[key]())(obj).validate(); return []; } catch (e) { return [String(e.message)]; }
}
const out = {docs: [], negative: []};
for (const file of process.argv.slice(3)) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (doc.errors.length) { out.docs.push({file, kind: null, errors: doc.errors.map(String)}); continue; }
    const obj = doc.toJS();
    out.docs.push({file, kind: obj && obj.kind, errors: check(obj), object: obj});
  }
}
// The validator must be able to say no: break a copy of the Deployment.
const dep = out.docs.find(d => d.kind === 'Deployment');
if (dep) {
  const a = JSON.parse(JSON.stringify(dep.object));
  a.spec.template.spec.containers[0].livenessProbe = {exec: {command: 'hello --probe live'}};
  const b = JSON.parse(JSON.stringify(dep.object));
  delete b.spec.selector;
  const c = JSON.parse(JSON.stringify(dep.object));
  c.spec.template.spec.terminationGracePeriodSeconds = '45s';
  out.negative = [a, b, c].map(check);
}
console.log(JSON.stringify(out));
"""


def memory_bytes(q):
    m = re.fullmatch(r'(\d+)(Ki|Mi|Gi)?', str(q))
    return int(m.group(1)) * {None: 1, 'Ki': 1 << 10, 'Mi': 1 << 20, 'Gi': 1 << 30}[m.group(2)] if m else None


def load_manifests(t):
    """{kind: object} of conf/k8s/*.yaml after schema validation, or None."""
    modules = harness.npm_install(t, NPM_PACKAGES, os.path.join('kubernetes-models', 'apps', 'v1', 'index.js'))
    if modules is None:
        return None
    files = sorted(os.path.join(K8S, f) for f in os.listdir(K8S) if f.endswith('.yaml'))
    script = t.path('validate.js')
    with open(script, 'w') as f:
        f.write(NODE_VALIDATE)
    code, out = run_cmd([shutil.which('node'), script, modules] + files)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        t.check('the validator ran', False, f'exit {code}: {out[-2000:]}')
        return None
    kinds = {}
    with t.section('k8s: every manifest passes the Kubernetes schema (kubernetes-models 4.5.1)'):
        for d in res['docs']:
            t.check(f'{os.path.basename(d["file"])}: {d["kind"]} is valid', not d['errors'], d['errors'])
            kinds[d['kind']] = d.get('object')
        t.equal('the kinds shipped', sorted(kinds), ['ConfigMap', 'Deployment', 'Service'])
        t.check('the validator rejects broken copies (a string for a command list, no selector, '
                'a string for a number)', len(res['negative']) == 3 and all(res['negative']), res['negative'])
    return kinds


def section_k8s_static(t, k, dockerfile):
    dep, cm, svc = k['Deployment'], k['ConfigMap'], k['Service']
    pod = dep['spec']['template']['spec']
    cs = {c['name']: c for c in pod['containers']}
    ini = cm['data']['fw.ini']
    with t.section('k8s: what ties the pod together'):
        t.equal('two containers, app and nginx', sorted(cs), ['app', 'nginx'])
        app, ngx = cs['app'], cs['nginx']
        cmd = app['command']
        entry = json.loads(dict(dockerfile[-1])['ENTRYPOINT'])
        t.equal('the app runs the image\'s program', cmd[0], entry[0])
        mounts = {m['name']: m['mountPath'] for m in app['volumeMounts']}
        vols = {v['name']: v for v in pod['volumes']}
        t.check('-c names fw.ini of the ConfigMap volume',
                cmd[1:] == ['-c', mounts.get('config', '?') + '/fw.ini'] and
                vols['config'].get('configMap', {}).get('name') == cm['metadata']['name'], cmd)
        for probe, what in [('livenessProbe', 'live'), ('readinessProbe', 'ready'), ('startupProbe', 'live')]:
            t.equal(f'{probe}: the app\'s command with --probe {what}',
                    app.get(probe, {}).get('exec', {}).get('command'), cmd + ['--probe', what])
        socks = listen_paths(ini_get(ini, 'listen') or '')
        t.check('the app listens on a unix socket', len(socks) == 1, socks)
        sockdir = os.path.dirname(socks[0]) if socks else '?'
        shared = [n for n, p in mounts.items() if p == sockdir]
        t.check(f'{sockdir} is an emptyDir volume in both containers',
                shared and 'emptyDir' in vols[shared[0]] and
                any(m['name'] == shared[0] and m['mountPath'] == sockdir for m in ngx['volumeMounts']),
                (mounts, ngx['volumeMounts']))
        t.check('nginx.conf connects to that socket',
                socks and f'server unix:{socks[0]};' in cm['data']['nginx.conf'])
        state = ini_get(ini, 'state_path') or ''
        t.check(f'state_path {state} is on a volume of the app container',
                os.path.dirname(state) in mounts.values())
        grace = int(ini_get(ini, 'graceful_timeout') or 30)
        pause = app.get('lifecycle', {}).get('preStop', {}).get('exec', {}).get('command', [])
        pause_s = int(pause[1]) if len(pause) == 2 and pause[0].endswith('sleep') else 0
        tgps = pod.get('terminationGracePeriodSeconds', 30)
        t.check(f'terminationGracePeriodSeconds ({tgps}) > the app\'s preStop pause ({pause_s}) + '
                f'graceful_timeout ({grace})', tgps > pause_s + grace)
        t.check('nginx quits gracefully in its preStop',
                '-s quit' in ' '.join(ngx.get('lifecycle', {}).get('preStop', {}).get('exec', {}).get('command', [])))
        lim = memory_bytes(app.get('resources', {}).get('limits', {}).get('memory'))
        req = memory_bytes(app.get('resources', {}).get('requests', {}).get('memory'))
        t.check('the app has a memory request and limit', lim and req and req <= lim, app.get('resources'))
        t.check('no rss_limit_mb in the ini: the budget comes from the limit', ini_get(ini, 'rss_limit_mb') is None)
        t.equal('the Service selects the pods', svc['spec']['selector'], dep['spec']['template']['metadata']['labels'])
        t.equal('the Service targets nginx\'s port', svc['spec']['ports'][0]['targetPort'],
                ngx['ports'][0]['name'])
        ids = {c['name']: c['securityContext']['runAsUser'] for c in pod['containers']}
        t.check('app and nginx run as different users', len(set(ids.values())) == 2, ids)
    return lim


def section_k8s_run(t, k, limit):
    """The ConfigMap's ini and nginx.conf serving together, the cgroup budget
    from the container's limit, and the pod's probe commands."""
    dep, cm = k['Deployment'], k['ConfigMap']
    app_c = [c for c in dep['spec']['template']['spec']['containers'] if c['name'] == 'app'][0]
    ini_text = cm['data']['fw.ini']
    sock = listen_paths(ini_get(ini_text, 'listen'))[0]
    state = ini_get(ini_text, 'state_path')
    ini = t.path('k8s-fw.ini')
    with open(ini, 'w') as f:
        f.write(ini_text)
    # The paths of the pod's volumes, moved into the temp dir.
    here = {os.path.dirname(sock): t.path('k8s-sockets'), os.path.dirname(state): t.path('k8s-state'),
            '/tmp': t.path('k8s-nginx-tmp')}
    for d in here.values():
        os.makedirs(d, exist_ok=True)
    move = lambda p: next((b + p[len(a):] for a, b in here.items()  # noqa: E731
                           if p.startswith(a.rstrip('/') + '/')), p)
    # A fake cgroup with the container's limit.
    cg = t.path('k8s-cgroup')
    os.mkdir(cg)
    for name, text in [('memory.max', f'{limit}\n'), ('memory.current', f'{64 << 20}\n'),
                       ('memory.stat', 'anon 1000\ninactive_file 0\n')]:
        with open(os.path.join(cg, name), 'w') as f:
            f.write(text)
    status_sock = ini_get(ini_text, 'status_listen')
    env = t.app_env(move(sock), {'FW_SERVER_STATE_PATH': move(state), 'FW_CGROUP_DIR': cg,
                                 'FW_SERVER_STATUS_LISTEN': move(status_sock),
                                 # nginx started by root runs its workers as nobody,
                                 # not in the pod's shared group.
                                 'FW_SERVER_SOCKET_MODE': '0666'})
    with t.section('k8s: the ConfigMap\'s ini passes -t'):
        code, out = run_cmd([HELLO, '-c', ini, '-t'], env=env)
        t.check('exit 0', code == 0, out)
    with t.section('k8s: the ConfigMap\'s nginx.conf passes nginx -t'):
        conf = cm['data']['nginx.conf']
        port = harness.free_port()
        metrics_port = harness.free_port()
        conf = conf.replace('listen 8080;', f'listen 127.0.0.1:{port};')
        conf = conf.replace('listen 9145;', f'listen 127.0.0.1:{metrics_port};')
        sock_dir = os.path.dirname(sock)
        conf = conf.replace('/tmp/', here['/tmp'] + '/').replace(f'unix:{sock_dir}/', f'unix:{move(sock_dir + "/x")[:-1]}')
        conf_path = t.path('k8s-nginx.conf')
        with open(conf_path, 'w') as f:
            f.write('daemon off;\n' + conf)
        code, out = run_cmd([harness.NGINX, '-t', '-p', t.tmp + '/', '-c', conf_path])
        t.check('exit 0', code == 0, out)

    app = rc.ConfApp(t, 'hello-k8s', move(sock), t.log_path('hello-k8s'), env, HELLO, ini)
    app.wait_ready()
    ngx = harness.Proc(t, 'nginx-k8s', [harness.NGINX, '-p', t.tmp + '/', '-c', conf_path],
                       t.log_path('nginx-k8s'))
    with t.section('k8s: nginx and fw of the pod serve'):
        t.check('nginx accepts', harness.wait_until(lambda: harness.tcp_accepts(port), harness.START_TIMEOUT),
                ngx.log_text())
        st, _, body = harness.http(port, 'GET', '/hello')
        t.equal('GET /hello through nginx: 200 hello', (st, body), (200, b'hello\n'))
        st, _, body = harness.http(port, 'GET', '/nginx-health')
        t.equal('GET /nginx-health: 200 from nginx', st, 200)
        st, _, body = harness.http(port, 'GET', '/fw-status')
        t.equal('GET /fw-status on the Service\'s port: the app\'s 404, not the status page', st, 404)
        st, _, body = harness.http(metrics_port, 'GET', '/fw-status?format=prometheus')
        t.check('GET /fw-status on the metrics port: the status page',
                st == 200 and b'fw_workers' in body, (st, body[:200]))
        # The worker writes the line after it has sent the answer: wait for it.
        def access_lines():
            return [ln for ln in app.log_text().splitlines() if ln.startswith('{') and '"/hello"' in ln]
        lines = harness.wait_until(access_lines, harness.WAIT) or []
        try:
            rec = json.loads(lines[-1]) if lines else None
        except ValueError:
            rec = None
        t.check('a JSON access-log line for it on stdout', rec and rec.get('status') == 200, lines[-3:])
        budget = (limit // 100 * 85) // (int(ini_get(ini_text, 'workers')) + 1) >> 20
        t.check(f'the per-worker budget derived from the {limit >> 20} MiB limit: {budget} MiB',
                f'{budget} MiB per worker' in app.log_text(), rc.lines_with(app.log_text(), 'derived'))
    with t.section('k8s: the pod\'s probe commands'):
        for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
            cmd = app_c[probe]['exec']['command']
            cmd = [HELLO if i == 0 else ini if a.endswith('/fw.ini') else a for i, a in enumerate(cmd)]
            code, out = run_cmd(cmd, env=env)
            t.check(f'{probe}: exit 0 ({out.strip()})', code == 0, out)
        app.stop()
        cmd = [HELLO, '-c', ini, '--probe', 'live']
        code, out = run_cmd(cmd, env=env)
        t.check(f'livenessProbe once the master is gone: exit 1 ({out.strip()})', code == 1, out)
    ngx.stop()
    bad = rc.error_lines(app.log_text())
    t.check('no error lines in the app\'s log', not bad, '\n'.join(bad[:10]))


# -------------------------------------------------------------- Dockerfile

def section_dockerfile(t, stages, k8s):
    build, runtime = stages[0], stages[-1]
    with t.section('Dockerfile: Debian 12, two stages'):
        t.check('built on debian:12', build[0][1].startswith('debian:12 '), build[0])
        t.check('runs on debian:12-slim', runtime[0][1].startswith('debian:12-slim'), runtime[0])
    src = t.path('docker-src')
    out = t.path('docker-out')
    os.mkdir(src)
    with t.section('Dockerfile: its build stage, run here as written'):
        workdir = dict(build).get('WORKDIR', '/')
        for inst, arg in build:
            if inst != 'COPY':
                continue
            *what, dest = arg.split()
            for w in what:
                s = os.path.join(harness.SOURCE_DIR, w)
                d = os.path.join(src, os.path.relpath(os.path.join(workdir, dest), workdir), os.path.basename(w)) \
                    if dest.endswith('/') else os.path.join(src, dest)
                t.check(f'COPY {w}: it exists', os.path.exists(s))
                if os.path.isdir(s):
                    shutil.copytree(s, d, ignore=shutil.ignore_patterns('__pycache__'))
                elif os.path.exists(s):
                    shutil.copy(s, d)
        runs = [arg for inst, arg in build if inst == 'RUN']
        t.check('one RUN in the build stage', len(runs) == 1, runs)
        cmd = runs[0].replace(workdir, src).replace('--destdir /out', f'--destdir {out}')
        code, log = run_cmd(['sh', '-c', cmd], cwd=src, timeout=BUILD_TIMEOUT)
        if not t.check('it builds and installs (exit 0)', code == 0, log[-3000:]):
            return
        entry = json.loads(dict(runtime)['ENTRYPOINT'])
        binary = out + entry[0]
        libdirs = [os.path.dirname(p) for p in
                   subprocess.run(['find', out, '-name', 'libfw.so*'], capture_output=True, text=True).stdout.split()]
        t.check(f'the ENTRYPOINT {entry[0]} is installed', os.access(binary, os.X_OK))
        env = dict(os.environ, LD_LIBRARY_PATH=':'.join(sorted(set(libdirs))))
        code, o = run_cmd([binary, '-V'], env=env)
        t.check('and runs (-V)', code == 0, o)
    with t.section('Dockerfile: the runtime stage installs every library the program needs'):
        run = ' '.join(arg for inst, arg in runtime if inst == 'RUN')
        m = re.search(r'apt-get install (.*?)&&', run)
        pkgs = {w for w in (m.group(1).split() if m else []) if not w.startswith('-')}
        needed = set()
        for f in [binary] + [os.path.join(d, x) for d in libdirs for x in os.listdir(d) if x.startswith('libfw.so.')]:
            code, o = run_cmd(['readelf', '-d', f])
            needed |= set(re.findall(r'\(NEEDED\)\s+Shared library: \[(.*?)\]', o))
        needed.discard('libfw.so.0')  # from the build stage
        cache = subprocess.run(['ldconfig', '-p'], capture_output=True, text=True).stdout
        base = {'libc6', 'libgcc-s1'}  # in every Debian image
        for lib in sorted(needed):
            m = re.search(rf'^\s*{re.escape(lib)} \(libc6,x86-64[^)]*\) => (\S+)', cache, re.M)
            if not m:
                m = re.search(rf'^\s*{re.escape(lib)} \([^)]*\) => (\S+)', cache, re.M)
            pkg = None
            if m:
                code, o = run_cmd(['dpkg', '-S', os.path.realpath(m.group(1))])
                pkg = o.split(':')[0] if code == 0 else None
                if pkg is None:
                    code, o = run_cmd(['dpkg', '-S', m.group(1)])
                    pkg = o.split(':')[0] if code == 0 else None
            t.check(f'{lib}: its package {pkg} is installed by the runtime stage',
                    pkg is not None and (pkg in pkgs or pkg in base), sorted(pkgs))
        code, o = run_cmd(['dpkg', '-S', '/usr/sbin/nginx'])
        t.check('nginx (the pod\'s second container) comes from Debian\'s nginx package',
                o.split(':')[0] in pkgs, o)
        for p in sorted(pkgs):
            code, o = run_cmd(['apt-cache', 'show', '--no-all-versions', p])
            t.check(f'{p} is a Debian package here', code == 0, o[-300:])
        pod = k8s['Deployment']['spec']['template']['spec'] if k8s else None
        if pod:
            for c in pod['containers']:
                uid = c['securityContext']['runAsUser']
                t.check(f'the image makes user {uid} ({c["name"]})', f'--uid {uid} ' in run)
            t.check(f'and group {pod["securityContext"]["runAsGroup"]}',
                    f'--gid {pod["securityContext"]["runAsGroup"]} ' in run)


def main(t):
    unit = parse_unit(UNIT)
    with open(UNIT_INI) as f:
        unit_ini = f.read()
    section_unit_static(t, unit, unit_ini)
    section_unit_run(t, unit, unit_ini)
    k8s = load_manifests(t)
    if k8s:
        limit = section_k8s_static(t, k8s, parse_dockerfile(DOCKERFILE))
        section_k8s_run(t, k8s, limit)
    section_dockerfile(t, parse_dockerfile(DOCKERFILE), k8s)


harness.run(main)
