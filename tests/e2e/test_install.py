#!/usr/bin/env python3
"""An application built outside the tree: `meson install`, then the README's
`cc app.c $(pkg-config --cflags --libs fw)`, served through nginx, using
the request side (forms, uploads, cookies, JSON, hooks, settings) from the
installed headers; and the same with fw-static, which links fw, libevent,
inih, jansson and the allocator into the program: its master has far fewer
memory mappings for every recycle to copy and tear down."""
import glob
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http

APP_C = r'''
#include <fw.h>
#include <string.h>

static int hello(fw_req *req, void *arg)
{
    fw_set_header(req, "Content-Type", "text/plain");
    fw_write(req, "hello\n", 6);
    return 200;
}

static int hello_name(fw_req *req, void *arg)
{
    fw_printf(req, "out of tree, %s\n", fw_param(req, "name"));
    return 200;
}

/* The request side, from the installed headers: forms, cookies, JSON, hooks, settings. */
static int form(fw_req *req, void *arg)
{
    const fw_upload *f = fw_form_file(req, "f");
    int st = fw_form_parse(req);
    fw_json j;

    if (st != 0)
        return st;
    fw_set_cookie(req, "seen", "1", &(fw_cookie_opts){.max_age = 60});
    fw_json_init_response(&j, req);
    fw_json_object(&j);
    fw_json_key(&j, "a");
    fw_json_str(&j, fw_form(req, "a"));
    fw_json_key(&j, "file");
    fw_json_strn(&j, f ? f->data : "", f ? f->len : 0);
    fw_json_key(&j, "cookie");
    fw_json_str(&j, fw_cookie(req, "c"));
    fw_json_key(&j, "setting");
    fw_json_str(&j, fw_setting("greeting"));
    fw_json_close(&j);
    return fw_json_end(&j) == 0 ? 200 : 500;
}

static int echo_json(fw_req *req, void *arg)
{
    json_t *in;
    fw_json j;
    int st = fw_json_body(req, &in);

    if (st != 0)
        return st;
    fw_json_init_response(&j, req);
    fw_json_value(&j, in);
    return fw_json_end(&j) == 0 ? 200 : 500;
}

static int page(fw_req *req, void *arg)
{
    const char *s = fw_query(req, "s");

    fw_write_html(req, s ? s : "", s ? strlen(s) : 0);
    return 200;
}

static int go(fw_req *req, void *arg)
{
    return fw_redirect(req, 303, "/hello");
}

static int before(fw_req *req, void *arg)
{
    return fw_query(req, "deny") ? fw_error(req, 403, "no") : 0;
}

static unsigned long afters;

static void after(fw_req *req, int status, void *arg)
{
    afters++;
}

static int errors(fw_req *req, int status, void *arg)
{
    fw_printf(req, "error %d: %s\n", status, fw_error_message(req) ? fw_error_message(req) : "-");
    return status;
}

static void bye(void *arg)
{
    fw_log(FW_LOG_INFO, "out of tree: exiting after %lu requests", afters);
}

int main(int argc, char **argv)
{
    fw_route("GET", "/hello", hello, NULL);
    fw_route("GET", "/hello/:name", hello_name, NULL);
    fw_route("POST", "/hello/form", form, NULL);
    fw_route("POST", "/hello/json", echo_json, NULL);
    fw_route("GET", "/hello-page", page, NULL);
    fw_route("GET", "/hello-go", go, NULL);
    fw_before(before, NULL);
    fw_after(after, NULL);
    fw_on_error(errors, NULL);
    fw_on_worker_exit(bye, NULL);
    return fw_main(argc, argv);
}
'''


def run_cmd(t, what, argv, env=None, cwd=None):
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    t.check(f'{what} exits 0', r.returncode == 0,
            f'{" ".join(argv)}: status {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}')
    return r


def main(t):
    dest = t.path('dest')
    run_cmd(t, 'meson install', ['meson', 'install', '-C', harness.BUILD_DIR, '--no-rebuild',
                                 '--quiet', '--destdir', dest])
    pcs = glob.glob(os.path.join(dest, '**', 'pkgconfig', 'fw.pc'), recursive=True)
    t.check('fw.pc is installed', len(pcs) == 1, repr(pcs))
    headers = glob.glob(os.path.join(dest, '**', 'include', 'fw.h'), recursive=True)
    t.check('fw.h is installed', len(headers) == 1, repr(headers))
    libs = glob.glob(os.path.join(dest, '**', 'libfw.so.0'), recursive=True)
    t.check('libfw.so.0 is installed', len(libs) == 1, repr(libs))

    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=dest)
    flags = run_cmd(t, 'pkg-config --cflags --libs fw',
                    ['pkg-config', '--cflags', '--libs', 'fw'], env=env).stdout.split()
    src = t.path('app.c')
    with open(src, 'w') as f:
        f.write(APP_C)
    # The compiler and sanitizers of the build under test: an ASan libfw
    # needs an ASan program.
    cc = os.environ.get('FW_CC', 'cc').split()
    san = [f'-fsanitize={s}' for s in os.environ.get('FW_SANITIZE', 'none').split(',') if s != 'none']
    binary = t.path('outoftree')
    run_cmd(t, 'cc app.c $(pkg-config --cflags --libs fw)',
            cc + san + [src] + flags + ['-o', binary], env=env)

    needed = dynamic_section(binary)
    t.check('the program links libfw', 'libfw.so.0' in needed, needed)
    if 'tcmalloc' in ' '.join(flags):
        # --as-needed would drop a -ltcmalloc the program never calls itself.
        t.check('tcmalloc is a direct dependency of the program (it serves malloc)',
                'libtcmalloc' in needed, needed)

    t.check('libfw.a is installed', glob.glob(os.path.join(dest, '**', 'libfw.a'), recursive=True))
    static_flags = run_cmd(t, 'pkg-config --cflags --libs fw-static',
                           ['pkg-config', '--cflags', '--libs', 'fw-static'], env=env).stdout.split()
    static_binary = t.path('outoftree-static')
    run_cmd(t, 'cc app.c $(pkg-config --cflags --libs fw-static)',
            cc + san + [src] + static_flags + ['-o', static_binary], env=env)
    needed = dynamic_section(static_binary)
    shared = [n for n in ('libfw', 'libevent', 'libinih', 'libjansson', 'libtcmalloc', 'libstdc++')
              if n in needed]
    t.check('the fw-static program needs none of fw, libevent, inih, jansson, the allocator as '
            'shared libraries', not shared, needed)

    pg_module(t, dest, env, cc, san)

    libdir = os.path.dirname(libs[0])
    run_env = {'LD_LIBRARY_PATH': libdir}
    v = run_cmd(t, 'outoftree -V', [binary, '-V'], env=dict(os.environ, **run_env))
    t.check('-V names fw and its version', v.stdout.startswith('fw 0.'), v.stdout)
    v = run_cmd(t, 'outoftree-static -V', [static_binary, '-V'])
    t.check('the fw-static program\'s -V names fw and its version', v.stdout.startswith('fw 0.'),
            v.stdout)
    app = t.start_app('hello', env=dict(run_env, FW_APP_GREETING='hi'), binary=binary)
    t.start_app('echo')
    ngx = t.start_nginx()
    r = http(ngx.port, 'GET', '/hello')
    t.equal('GET /hello through nginx', (r.status, r.body), (200, b'hello\n'))
    r = http(ngx.port, 'GET', '/hello/world')
    t.equal('GET /hello/world through nginx', (r.status, r.body), (200, b'out of tree, world\n'))
    request_side(t, ngx.port)
    maps = mappings(app.pid)
    t.equal('the app stops with status 0', app.stop(), 0)
    t.check('its workers ran the exit hook', 'out of tree: exiting after' in app.log_text(),
            app.log_text()[-1500:])

    # The same program linked with fw-static, on the same socket.
    app = t.start_app('hello-static', sock=t.path('hello.sock'), binary=static_binary)
    r = http(ngx.port, 'GET', '/hello/world')
    t.equal('the fw-static program: GET /hello/world through nginx', (r.status, r.body),
            (200, b'out of tree, world\n'))
    static_maps = mappings(app.pid)
    # Each shared library is four or five mappings: fw, libevent and inih at least are gone.
    t.check(f'its master has at least 10 memory mappings fewer ({static_maps} against {maps})',
            static_maps + 10 <= maps)
    t.check_logs()


PG_APP_C = r'''
#include <fw.h>
#include <fw/pg.h>

static void done(fw_req *req, fw_pg *pg, void *arg)
{
    fw_finish(req, fw_pg_status(pg) != 0 ? fw_pg_status(pg) : 200);
}

static int one(fw_req *req, void *arg)
{
    fw_pg *pg = fw_pg_new(req);

    if (pg == NULL || fw_pg_add(pg, "SELECT 1", 0, NULL) != 0)
        return 500;
    return fw_pg_send(pg, done, NULL);
}

int main(int argc, char **argv)
{
    if (fw_pg_prepare("one", "SELECT 1") != 0 || fw_route("GET", "/one", one, NULL) != 0)
        return 1;
    return fw_main(argc, argv);
}
'''


def pg_module(t, dest, env, cc, san):
    """<fw/pg.h> and fw-pg.pc, when the module was built: a program that links it."""
    if not glob.glob(os.path.join(dest, '**', 'include', 'fw', 'pg.h'), recursive=True):
        return
    t.check('libfw_pg.a is installed', glob.glob(os.path.join(dest, '**', 'libfw_pg.a'), recursive=True))
    flags = run_cmd(t, 'pkg-config --cflags --libs fw-pg',
                    ['pkg-config', '--cflags', '--libs', 'fw-pg'], env=env).stdout.split()
    # PKG_CONFIG_SYSROOT_DIR (the staged install) moves libpq's own
    # -I/usr/include/postgresql under dest too: add the system's.
    flags += run_cmd(t, 'pkg-config --cflags libpq', ['pkg-config', '--cflags', 'libpq']).stdout.split()
    src, binary = t.path('pgapp.c'), t.path('outoftree-pg')
    with open(src, 'w') as f:
        f.write(PG_APP_C)
    run_cmd(t, 'cc pgapp.c $(pkg-config --cflags --libs fw-pg)', cc + san + [src] + flags + ['-o', binary],
            env=env)
    needed = dynamic_section(binary)
    t.check('the program links libpq', 'libpq.so' in needed, needed)
    v = run_cmd(t, 'outoftree-pg -V', [binary, '-V'])
    t.check('the fw-pg program\'s -V names fw', v.stdout.startswith('fw 0.'), v.stdout)


def request_side(t, port):
    """The new API of the installed headers, through nginx."""
    import json
    bnd = 'b0undary'
    body = (f'--{bnd}\r\nContent-Disposition: form-data; name="a"\r\n\r\nfirst\r\n'
            f'--{bnd}\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n\r\nfile text\r\n'
            f'--{bnd}--\r\n').encode()
    r = http(port, 'POST', '/hello/form', body=body,
             headers={'Content-Type': f'multipart/form-data; boundary={bnd}', 'Cookie': 'c=v'})
    t.equal('out of tree: a multipart form, a cookie, a setting, as JSON', (r.status, json.loads(r.body)),
            (200, {'a': 'first', 'file': 'file text', 'cookie': 'v', 'setting': 'hi'}))
    t.equal('out of tree: fw_set_cookie', r.headers('Set-Cookie'),
            ['seen=1; Path=/; Max-Age=60; HttpOnly; SameSite=Lax'])
    r = http(port, 'POST', '/hello/json', body=b'{"k": [1, "two"]}', headers={'Content-Type': 'application/json'})
    t.equal('out of tree: JSON in and out', (r.status, r.body), (200, b'{"k":[1,"two"]}'))
    r = http(port, 'POST', '/hello/json', body=b'{"k": ', headers={'Content-Type': 'application/json'})
    t.check('out of tree: malformed JSON is a 400 from the error hook',
            r.status == 400 and r.body.startswith(b'error 400: the body is not valid JSON'), r)
    r = http(port, 'GET', '/hello-page?s=%3Cb%3E')
    t.equal('out of tree: fw_write_html', r.body, b'&lt;b&gt;')
    r = http(port, 'GET', '/hello-go')
    t.equal('out of tree: fw_redirect', (r.status, r.header('Location')), (303, '/hello'))
    r = http(port, 'GET', '/hello?deny=1')
    t.equal('out of tree: fw_before and fw_error', (r.status, r.body), (403, b'error 403: no\n'))
    r = http(port, 'PUT', '/hello')
    t.equal('out of tree: fw\'s own 405 through the error hook', (r.status, r.body), (405, b'error 405: -\n'))


def dynamic_section(binary):
    """readelf -d: the shared libraries (NEEDED) the program asks for."""
    return subprocess.run(['readelf', '-d', binary], capture_output=True, text=True).stdout


def mappings(pid):
    with open(f'/proc/{pid}/maps') as f:
        return sum(1 for _ in f)


harness.run(main)
