#!/usr/bin/env python3
"""Totals from the VSTest .trx files that `dotnet test --logger trx` wrote into a results folder (used by .ci/run).
Prints per-project counts, failed tests, skip reasons grouped by reason, and as its LAST line exactly
`N passed, N failed` (+ `, N skipped` when some were skipped). Standard library only.
Exit status: 0 all passed, 1 some failed, 2 no .trx file found (or none readable).
Usage: trx_summary.py RESULTS_DIR"""
import collections
import glob
import os
import sys
import xml.etree.ElementTree as ET

NS = '{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}'
SKIPPED = {'NotExecuted', 'Inconclusive'}  # xunit's Assert.Skip / [Fact(Skip=...)] arrive as NotExecuted


def first_line(text):
    lines = [ln.strip() for ln in (text or '').strip().splitlines() if ln.strip()]
    return lines[0] if lines else '(no reason given)'


def main(results_dir):
    files = sorted(glob.glob(os.path.join(results_dir, '**', '*.trx'), recursive=True))
    passed = failed = skipped = 0
    failures, skip_reasons, unreadable = [], collections.Counter(), []
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            unreadable.append(f'{path}: {e}')
            continue
        # Test names from the definitions: storage = the test assembly, so each line can name its project.
        storage = {d.get('id'): os.path.basename(d.get('storage') or '?') for d in root.iter(NS + 'UnitTest')}
        counts = collections.Counter()
        project = '?'
        for r in root.iter(NS + 'UnitTestResult'):
            outcome = r.get('outcome', '')
            project = storage.get(r.get('testId'), project)
            message = r.find(f'{NS}Output/{NS}ErrorInfo/{NS}Message')
            text = message.text if message is not None else ''
            if outcome == 'Passed':
                counts['passed'] += 1
            elif outcome in SKIPPED:
                counts['skipped'] += 1
                skip_reasons[first_line(text)] += 1
            else:
                counts['failed'] += 1
                failures.append(f"{r.get('testName')} [{outcome}]: {first_line(text)}")
        # A run that crashed or was aborted may record no failed result at all: count it as one failure.
        summary = root.find(NS + 'ResultSummary')
        run_outcome = summary.get('outcome') if summary is not None else 'Unknown'
        if run_outcome not in ('Completed', 'Passed', 'Failed', 'Warning') and counts['failed'] == 0:
            counts['failed'] += 1
            failures.append(f'{os.path.basename(path)}: test run outcome {run_outcome}')
        passed += counts['passed']; failed += counts['failed']; skipped += counts['skipped']
        print(f"trx: {os.path.basename(path)} ({project}): {counts['passed']} passed, {counts['failed']} failed, "
              f"{counts['skipped']} skipped, run outcome {run_outcome}")

    for line in unreadable:
        print(f'error: unreadable .trx: {line}')
    if failures:
        print(f'Failed tests ({len(failures)}):')
        for line in failures:
            print(f'  {line}')
    if skip_reasons:
        print(f'Skip reasons ({skipped} skipped):')
        for reason, n in skip_reasons.most_common():
            print(f'  {n} x {reason}')
    readable = len(files) - len(unreadable)
    if readable == 0:
        print(f'error: no readable .trx file under {results_dir}: the build failed or no test project ran')
    tail = f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else '')
    print(tail)
    return 2 if readable == 0 else (1 if failed else 0)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: trx_summary.py RESULTS_DIR')
    sys.exit(main(sys.argv[1]))
