#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
"""Count the individual TAP results of test runs.

Arguments are meson test logs (BUILDDIR/meson-logs/testlog.json, one JSON
object per test) and plain TAP files (anything else). Every "ok" line counts
as passed, every "not ok" line as failed, either with a "# SKIP" directive as
skipped ("not ok ... # TODO" too); a "1..0 # SKIP reason" plan counts as one
skipped result. A test program that meson saw fail (crash, timeout, bad exit
status, wrong plan) without reporting a failure of its own counts as one
failure more; a missing log counts as one failure.

Failures and skips are listed with their reasons; the last line is
"N passed, N failed, N skipped". Exits 1 when anything failed or nothing ran.
"""

import json
import os
import re
import sys

RESULT = re.compile(r"^(not ok|ok)\b(.*)$")
DIRECTIVE = re.compile(r"#\s*(SKIP|TODO)\b\s*(.*)$", re.IGNORECASE)
SKIP_ALL = re.compile(r"^1\.\.0\b.*?(?:#\s*SKIP\b\s*(.*))?$", re.IGNORECASE)
# meson results that mean the test program itself went wrong
BAD_RESULTS = {"FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS"}


class Counter:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []
        self.skips = []

    def fail(self, name, what):
        self.failed += 1
        self.failures.append("%s: %s" % (name, what))

    def skip(self, name, what):
        self.skipped += 1
        self.skips.append("%s: %s" % (name, what))

    def count_tap(self, name, text):
        """Count the results in one program's TAP output; return how many
        results it had and how many of them failed."""
        results = failed = 0
        for line in text.splitlines():
            m = RESULT.match(line)
            if m is None:
                m = SKIP_ALL.match(line)
                if m is not None and results == 0:
                    results += 1
                    self.skip(name, "skipped: %s" % (m.group(1) or "no reason given"))
                continue
            results += 1
            directive = DIRECTIVE.search(m.group(2))
            if directive is not None:
                kind = directive.group(1).upper()
                if kind == "SKIP" or m.group(1) == "not ok":
                    self.skip(name, line.strip())
                else:
                    self.passed += 1
            elif m.group(1) == "ok":
                self.passed += 1
            else:
                failed += 1
                self.fail(name, line.strip())
        return results, failed

    def count_meson_log(self, path):
        build = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path))))
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                test = json.loads(line)
                name = "%s/%s" % (build, test.get("name", "?"))
                result = test.get("result", "?")
                results, failed = self.count_tap(name, test.get("stdout") or "")
                if result in BAD_RESULTS and failed == 0:
                    self.fail(name, "test program %s (exit status %s) after %d results" %
                              (result.lower(), test.get("returncode"), results))
                elif results == 0:
                    if result == "SKIP":
                        self.skip(name, "skipped, printed no reason")
                    else:
                        self.passed += 1

    def count_tap_file(self, path):
        name = os.path.basename(path)
        if name.endswith(".tap"):
            name = name[:-4]
        with open(path, encoding="utf-8", errors="replace") as f:
            results, _ = self.count_tap(name, f.read())
        if results == 0:
            self.fail(name, "no TAP results")


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: count-tap.py TESTLOG.json|FILE.tap...", file=sys.stderr)
        return 2
    counter = Counter()
    for path in sys.argv[1:]:
        if not os.path.exists(path):
            counter.fail(path, "missing: the tests did not run")
        elif path.endswith(".json"):
            counter.count_meson_log(path)
        else:
            counter.count_tap_file(path)

    for line in counter.skips:
        print("SKIP " + line)
    for line in counter.failures:
        print("FAIL " + line)
    total = counter.passed + counter.failed + counter.skipped
    if total == 0:
        print("no test results at all")
    print("%d passed, %d failed, %d skipped" % (counter.passed, counter.failed, counter.skipped))
    return 1 if counter.failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
