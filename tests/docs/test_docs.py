#!/usr/bin/env python3
"""The docs keep up with the code:

- every configuration key of the keys[] table in framework/config/config.c
  has a row in docs/configuration.md under its section, naming its
  environment variable, its default, and its range (numbers) or length
  (strings); no row documents a key that does not exist; every key that
  fw_config_restart_needed() names is listed under "Reload or restart";
- every public name of include/fw.h and include/fw/*.h (FW_API functions,
  macros, typedefs, enum constants) is in docs/handlers.md, in backticks;
  those of an optional module's header in its own page (include/fw/pg.h:
  docs/databases.md);
- every relative link (and #anchor) in README.md and docs/*.md points to
  a file (and heading) that exists;
- the man page docs/fw.7, when there is one, names every key in bold;
- docs/architecture.md names every file of framework/ under its folder's
  heading, and no file that does not exist; every folder has a row in its
  "Layers" table, and every `#include "folder/..."` (and libevent include)
  of a framework file is one its folder's row allows.

Before checking the real files, it checks that each rule catches a
mutated copy (a key row removed, a function removed, a link broken), so
a rule that can no longer fail fails the test. Python 3 standard library
only. Usage: test_docs.py [SOURCE_DIR] (default: FW_SOURCE_DIR, or the
tree this file is in).
"""
import glob
import os
import re
import sys

sys.dont_write_bytecode = True

# ---- the code ----


def strip_c_comments(text):
    return re.sub(r'/\*.*?\*/|//[^\n]*', ' ', text, flags=re.S)


def c_int(expr):
    """A small constant expression of the keys[] table: 0777, 4 * 1024 * 1024."""
    expr = expr.strip()
    if not re.fullmatch(r'[0-9xXa-fA-F\s*+()-]+', expr):
        raise ValueError(f'cannot evaluate {expr!r}')
    expr = re.sub(r'\b0([0-7]+)\b', r'0o\1', expr)  # C octal
    return eval(expr, {'__builtins__': {}})  # digits and operators only, checked above


def config_keys(config_c):
    """[(section, name, type, default, min, max)] from the keys[] table."""
    text = strip_c_comments(config_c)
    macros = dict((m.group(1), m.group(2)) for m in re.finditer(
        r'#define\s+(\w+)\(name,\s*type,\s*def,\s*min,\s*max\)[\s\\]*\{[\s\\]*"(\w+)"', text))
    table = re.search(r'static\s+const\s+struct\s+key\s+keys\[\]\s*=\s*\{(.*?)\n\};', text, re.S)
    if not macros or not table:
        raise ValueError('config.c: no keys[] table or section macro found')
    keys = []
    for m in re.finditer(r'\b(\w+)\(\s*(\w+)\s*,\s*(K_\w+)\s*,\s*"([^"]*)"\s*,\s*([^,]+?)\s*,\s*([^)]+?)\s*\)',
                         table.group(1)):
        macro, name, ktype, default, lo, hi = m.groups()
        if macro not in macros:
            raise ValueError(f'config.c: unknown section macro {macro}')
        keys.append((macros[macro], name, ktype, default, c_int(lo), c_int(hi)))
    if not keys:
        raise ValueError('config.c: the keys[] table is empty')
    return keys


def restart_keys(config_c):
    text = strip_c_comments(config_c)
    m = re.search(r'fw_config_restart_needed\([^)]*\)\s*\{(.*?)\n\}', text, re.S)
    if not m:
        raise ValueError('config.c: no fw_config_restart_needed()')
    return sorted(set(re.findall(r'return\s+"(\w+)"', m.group(1))))


def public_names(headers):
    """{name: header} for every FW_API function, macro, typedef and enum constant."""
    names = {}
    for path, text in headers.items():
        base = os.path.basename(path)
        code = strip_c_comments(text)
        guard = re.search(r'#ifndef\s+(\w+)\s*\n\s*#define\s+\1\b', code)
        for m in re.finditer(r'^\s*#\s*define\s+(\w+)', code, re.M):
            if guard is None or m.group(1) != guard.group(1):
                names[m.group(1)] = base
        code = re.sub(r'^\s*#(?:[^\n]*\\\n)*[^\n]*', '', code, flags=re.M)  # preprocessor lines
        for m in re.finditer(r'\bFW_API\s+[^;(]*?\b(\w+)\s*\(', code):
            names[m.group(1)] = base
        # Any other function declaration too (one missing FW_API is public
        # in the header, if not exported).
        for m in re.finditer(r'(?:^|(?<=[;{}]))\s*(?!typedef\b)([A-Za-z_][\w\s*]*?)\b(\w+)\s*'
                             r'\((?:[^;{}()]|\([^()]*\))*\)\s*(?:FW_PRINTF\s*\([^)]*\)\s*)?;', code):
            names[m.group(2)] = base
        for m in re.finditer(r'\btypedef\b[^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(', code):
            names[m.group(1)] = base
        for m in re.finditer(r'\btypedef\s+(?:struct|enum|union)?\s*\w*\s*(?:\{[^}]*\})?\s*\**\s*(\w+)\s*;', code):
            names[m.group(1)] = base
        for m in re.finditer(r'\benum\s+(\w+)\s*\{([^}]*)\}', code):
            names[m.group(1)] = base
            for c in re.finditer(r'(\w+)\s*(?:=[^,]*)?(?:,|$)', m.group(2)):
                names[c.group(1)] = base
    names.pop('', None)
    return names


# ---- markdown ----


def strip_fences(md):
    """The text with fenced code blocks blanked (line numbers kept)."""
    out, fence = [], None
    for line in md.split('\n'):
        m = re.match(r'\s*(```|~~~)', line)
        if m and fence is None:
            fence = m.group(1)
            out.append('')
        elif m and line.strip().startswith(fence):
            fence = None
            out.append('')
        else:
            out.append('' if fence else line)
    return '\n'.join(out)


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # links: their text
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(md):
    seen, out = {}, set()
    for m in re.finditer(r'^#{1,6}\s+(.*?)\s*#*\s*$', strip_fences(md), re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f'{s}-{n}')
    return out


def links(md):
    """(line, target) of inline and reference links, outside code."""
    text = strip_fences(md)
    text = re.sub(r'`[^`\n]*`', lambda m: ' ' * len(m.group(0)), text)  # inline code
    for m in re.finditer(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)', text):
        yield text.count('\n', 0, m.start()) + 1, m.group(1)
    for m in re.finditer(r'^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$', text, re.M):
        yield text.count('\n', 0, m.start()) + 1, m.group(1)


def section_text(md, title_re, level):
    """The text under the first heading of `level` matching title_re, up to the next heading of that level or higher."""
    md = strip_fences(md)
    m = re.search(r'^' + '#' * level + r'\s+' + title_re + r'\s*$', md, re.M)
    if not m:
        return None
    end = re.search(r'^#{1,%d}\s' % level, md[m.end():], re.M)
    return md[m.end():m.end() + end.start()] if end else md[m.end():]


def table_rows(text):
    """{first cell without backticks: [cells]} of the table rows whose first cell is one `name`."""
    rows = {}
    for line in text.split('\n'):
        if not line.startswith('|'):
            continue
        cells = [c.strip() for c in re.split(r'(?<!\\)\|', line.strip())[1:-1]]
        m = re.fullmatch(r'`(\w+)`', cells[0]) if cells else None
        if m:
            rows.setdefault(m.group(1), cells)
    return rows


# ---- the rules: each returns a list of problems ----

NUMERIC = {'K_INT', 'K_WORKERS', 'K_MODE'}
LENGTH = {'K_NAME', 'K_PATH', 'K_FILE', 'K_LOG', 'K_MIME', 'K_TEXT'}

# The headers of optional modules, documented on pages of their own.
MODULE_DOCS = {'pg.h': 'docs/databases.md'}


def check_config_doc(keys, restart, md, where='docs/configuration.md'):
    problems = []
    for section in sorted(set(k[0] for k in keys)):
        text = section_text(md, re.escape(f'[{section}]'), 2)
        if text is None:
            problems.append(f'{where}: no "## [{section}]" section')
            continue
        rows = table_rows(text)
        known = {k[1] for k in keys if k[0] == section}
        for name in sorted(set(rows) - known):
            problems.append(f'{where}: [{section}] documents `{name}`, which config.c does not know')
        for sec, name, ktype, default, lo, hi in keys:
            if sec != section:
                continue
            row = rows.get(name)
            if row is None:
                problems.append(f'{where}: key `{name}` of [{section}] is not documented (no table row)')
                continue
            env = f'FW_{section}_{name}'.upper()
            line = ' | '.join(row)
            if env not in line:
                problems.append(f'{where}: `{name}`: its environment variable {env} is not named')
            if len(row) < 3:
                problems.append(f'{where}: `{name}`: the row has no default and range cells')
                continue
            if default and f'`{default}`' not in row[1]:
                problems.append(f'{where}: `{name}`: the default cell {row[1]!r} does not say `{default}`')
            if not default and 'empty' not in row[1]:
                problems.append(f'{where}: `{name}`: the default is empty, the cell says {row[1]!r}')
            numbers = set(re.findall(r'\b\d+\b', row[2]))
            if ktype == 'K_MODE':
                want = {'0', '0' + format(hi, 'o')}
            elif ktype in NUMERIC:
                want = {str(lo), str(hi)}
            elif ktype in LENGTH:
                want = {str(hi)}
            else:
                want = set()
            if not want <= numbers:
                problems.append(f'{where}: `{name}`: the range cell {row[2]!r} lacks {sorted(want - numbers)}')
    text = section_text(md, r'Reload or restart', 2)
    if text is None:
        problems.append(f'{where}: no "## Reload or restart" section')
    else:
        for name in restart:
            if f'`{name}`' not in text:
                problems.append(f'{where}: "Reload or restart" does not list `{name}`, which needs a restart')
    return problems


def check_man(keys, roff, where='docs/fw.7'):
    """Every key on a .B or .BR line of the man page."""
    bold = ' '.join(re.findall(r'^\.BR?\s+(.*)$', roff, re.M))
    words = set(re.findall(r'\w+', bold))
    return [f'{where}: key `{k[1]}` is not in the man page' for k in keys if k[1] not in words]


def check_api_doc(names, md, where='docs/handlers.md'):
    # In inline code outside the examples: a name used only in an example
    # is not documented.
    code = set()
    for m in re.finditer(r'`([^`\n]+)`', strip_fences(md)):
        code.update(re.findall(r'\w+', m.group(1)))
    return [f'{where}: `{n}` ({h}) is not documented' for n, h in sorted(names.items()) if n not in code]


def check_links(files):
    """files: {path: text}. Relative links must reach an existing file, and #anchors a heading."""
    problems = []
    for path, md in sorted(files.items()):
        for line, target in links(md):
            if not target or re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:', target) or target.startswith('//'):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if dest not in files and not os.path.exists(dest):
                problems.append(f'{path}:{line}: link to {target}: {dest} does not exist')
                continue
            if anchor and dest.endswith('.md'):
                text = files.get(dest)
                if text is None:
                    with open(dest, encoding='utf-8') as f:
                        text = f.read()
                if anchor not in anchors(text):
                    problems.append(f'{path}:{line}: link to {target}: no heading #{anchor} in {dest}')
    return problems


def check_architecture(tree, md, where='docs/architecture.md'):
    """tree: {folder: {file name: text}} of framework/. The map and the layers."""
    problems = []
    layers = {}
    text = section_text(md, r'Layers', 2)
    if text is None:
        return [f'{where}: no "## Layers" section']
    for line in text.split('\n'):
        cells = [c.strip() for c in line.strip().strip('|').split('|')] if line.startswith('|') else []
        if len(cells) >= 3 and re.fullmatch(r'`\w+`', cells[0]):
            layers[cells[0].strip('`')] = (set(re.findall(r'`(\w+)`', cells[1])), cells[2] == 'yes')
    for folder in sorted(tree):
        if folder not in layers:
            problems.append(f'{where}: folder {folder} has no row in "Layers"')
            continue
        allowed, libevent = layers[folder]
        section = section_text(md, re.escape(f'`framework/{folder}/`'), 3)
        if section is None:
            problems.append(f'{where}: no "### `framework/{folder}/`" heading')
            section = ''
        named = set(re.findall(r'`([\w.]+\.[ch])`', section))
        for name in sorted(set(tree[folder]) - named):
            problems.append(f'{where}: framework/{folder}/{name} is not on the map')
        for name in sorted(named - set(tree[folder])):
            problems.append(f'{where}: the map names framework/{folder}/{name}, which does not exist')
        for name, code in sorted(tree[folder].items()):
            for inc in re.findall(r'^\s*#\s*include\s+"(\w+)/', code, re.M):
                if inc not in allowed:
                    problems.append(f'framework/{folder}/{name}: includes "{inc}/...", which '
                                    f'{folder} may not (docs/architecture.md, "Layers")')
            if not libevent and re.search(r'^\s*#\s*include\s+<event2/', code, re.M):
                problems.append(f'framework/{folder}/{name}: includes libevent, which {folder} may not')
    return problems


# ---- running ----


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def self_test(keys, restart, names, config_md, handlers_md, files, man, tree=None, arch_md=None):
    """Each rule must catch a broken copy; returns problems with the rules themselves."""
    bad = []
    name = keys[-1][1]
    lines = [x for x in config_md.split('\n') if not x.startswith(f'| `{name}` |')]
    if not any(f'`{name}`' in p and 'not documented' in p
               for p in check_config_doc(keys, restart, '\n'.join(lines))):
        bad.append(f'self-test: removing the row of `{name}` from configuration.md went unnoticed')
    mutated = re.sub(r'(\| `' + re.escape(keys[0][1]) + r'` \| )`[^`]*`', r'\1`nonsense`', config_md, count=1)
    if not check_config_doc(keys, restart, mutated):
        bad.append(f'self-test: a wrong default of `{keys[0][1]}` went unnoticed')
    if restart:
        r = restart[-1]
        text = section_text(config_md, r'Reload or restart', 2) or ''
        mutated = config_md.replace(text, text.replace(f'`{r}`', r))
        if not any('Reload or restart' in p for p in check_config_doc(keys, restart, mutated)):
            bad.append(f'self-test: `{r}` missing from "Reload or restart" went unnoticed')
    extra = {'include/fw/extra.h': 'int fw_plain(fw_req *req, void (*fn)(void *arg));\nFW_API int fw_marked(void);\n'}
    if not {'fw_plain', 'fw_marked'} <= set(public_names(extra)):
        bad.append('self-test: a function declared in a header was not found')
    fn = sorted(n for n in names if n.startswith('fw_buf_'))[0]
    mutated = re.sub(r'\b' + re.escape(fn) + r'\b', 'fw_gone', handlers_md)
    if not any(f'`{fn}`' in p for p in check_api_doc(names, mutated)):
        bad.append(f'self-test: removing `{fn}` from handlers.md went unnoticed')
    if man is not None:
        mutated = re.sub(r'\b' + re.escape(name) + r'\b', 'gone', man)
        if not any(f'`{name}`' in p for p in check_man(keys, mutated)):
            bad.append(f'self-test: removing `{name}` from fw.7 went unnoticed')
    path = sorted(files)[0]
    broken = dict(files)
    broken[path] = files[path] + '\n[gone](no/such/file.md) [gone too](#no-such-heading)\n'
    found = check_links(broken)
    if not any('no/such/file.md' in p for p in found) or not any('no-such-heading' in p for p in found):
        bad.append('self-test: a broken link or anchor went unnoticed')
    if tree is not None:
        broken = {f: dict(files) for f, files in tree.items()}
        broken['core']['extra.c'] = '#include "worker/worker.h"\n#include <event2/event.h>\n'
        found = check_architecture(broken, arch_md)
        for what in ('core/extra.c is not on the map', 'includes "worker/', 'includes libevent'):
            if not any(what in p for p in found):
                bad.append(f'self-test: "{what}" went unnoticed')
    return bad


def main():
    root = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get('FW_SOURCE_DIR') or
            os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
    os.chdir(root)
    config_c = read('framework/config/config.c')
    keys = config_keys(config_c)
    restart = restart_keys(config_c)
    headers = {p: read(p) for p in ['include/fw.h'] + sorted(glob.glob('include/fw/*.h'))}
    names = public_names(headers)
    config_md = read('docs/configuration.md')
    handlers_md = read('docs/handlers.md')
    files = {p: read(p) for p in ['README.md'] + sorted(glob.glob('docs/*.md'))}
    man = read('docs/fw.7') if os.path.exists('docs/fw.7') else None
    tree = {}
    for path in sorted(glob.glob('framework/*/*.[ch]')):
        folder, name = path.split('/')[1:3]
        tree.setdefault(folder, {})[name] = read(path)
    arch_md = read('docs/architecture.md')

    print(f'# {len(keys)} configuration keys ({len(restart)} need a restart), '
          f'{len(names)} public names, {len(files)} markdown files')
    problems = self_test(keys, restart, names, config_md, handlers_md, files, man, tree, arch_md)
    problems += check_architecture(tree, arch_md)
    problems += check_config_doc(keys, restart, config_md)
    problems += check_api_doc({n: h for n, h in names.items() if h not in MODULE_DOCS}, handlers_md)
    for header, page in MODULE_DOCS.items():
        problems += check_api_doc({n: h for n, h in names.items() if h == header}, files[page], page)
    if man is not None:
        problems += check_man(keys, man)
    problems += check_links(files)
    for p in problems:
        print('FAIL', p)
    print(f'{len(problems)} problem(s)' if problems else 'ok: the docs cover the code')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
