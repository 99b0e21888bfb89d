#!/usr/bin/env python3
"""An application built outside the tree: `meson install`, then the README's
`cc app.c $(pkg-config --cflags --libs fw)`, served through nginx; and the
same with fw-static, which links fw, libevent, inih and the allocator into
the program: its master has far fewer memory mappings for every recycle to
copy and tear down."""
import glob
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402
from harness import http

APP_C = r'''
#include <fw.h>

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

int main(int argc, char **argv)
{
    fw_route("GET", "/hello", hello, NULL);
    fw_route("GET", "/hello/:name", hello_name, NULL);
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
    shared = [n for n in ('libfw', 'libevent', 'libinih', 'libtcmalloc', 'libstdc++') if n in needed]
    t.check('the fw-static program needs none of fw, libevent, inih, the allocator as shared '
            'libraries', not shared, needed)

    libdir = os.path.dirname(libs[0])
    run_env = {'LD_LIBRARY_PATH': libdir}
    v = run_cmd(t, 'outoftree -V', [binary, '-V'], env=dict(os.environ, **run_env))
    t.check('-V names fw and its version', v.stdout.startswith('fw 0.'), v.stdout)
    v = run_cmd(t, 'outoftree-static -V', [static_binary, '-V'])
    t.check('the fw-static program\'s -V names fw and its version', v.stdout.startswith('fw 0.'),
            v.stdout)
    app = t.start_app('hello', env=run_env, binary=binary)
    t.start_app('echo')
    ngx = t.start_nginx()
    r = http(ngx.port, 'GET', '/hello')
    t.equal('GET /hello through nginx', (r.status, r.body), (200, b'hello\n'))
    r = http(ngx.port, 'GET', '/hello/world')
    t.equal('GET /hello/world through nginx', (r.status, r.body), (200, b'out of tree, world\n'))
    maps = mappings(app.pid)
    t.equal('the app stops with status 0', app.stop(), 0)

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


def dynamic_section(binary):
    """readelf -d: the shared libraries (NEEDED) the program asks for."""
    return subprocess.run(['readelf', '-d', binary], capture_output=True, text=True).stdout


def mappings(pid):
    with open(f'/proc/{pid}/maps') as f:
        return sum(1 for _ in f)


harness.run(main)
