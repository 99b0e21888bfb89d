#!/usr/bin/env python3
"""Every C file of the tree as .clang-format says (clang-format --dry-run
--Werror): formatting stays out of diffs about code. Run by the test
`format`; fix a failure with `clang-format -i FILE`. A machine without
clang-format fails the test (scripts/test installs it): a check that
cannot run must not pass. Usage: check_format.py SOURCE_DIR."""
import os
import shutil
import subprocess
import sys

DIRS = ('framework', 'include', 'apps', 'tests', 'bench')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
    tool = shutil.which('clang-format')
    if tool is None:
        print('FAIL clang-format is not installed (scripts/lib.sh installs it)')
        return 1
    files = []
    for d in DIRS:
        for top, _, names in os.walk(os.path.join(root, d)):
            files += [os.path.join(top, n) for n in sorted(names) if n.endswith(('.c', '.h'))]
    # One run for all: clang-format names each file it would change ("FILE:LINE:COL: error").
    r = subprocess.run([tool, '--dry-run', '--Werror'] + files, capture_output=True, text=True, cwd=root)
    bad = sorted({os.path.relpath(line.split(':')[0], root) for line in r.stderr.splitlines()
                  if ': error:' in line})
    if r.returncode != 0 and not bad:
        print(r.stderr[-2000:])
        bad = ['(clang-format failed)']
    print(f'{len(files)} C files checked with {tool}')
    for f in bad:
        print(f'FAIL {f}: not formatted (clang-format -i {f})')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
