#!/usr/bin/env python3
"""Compare an Autobahn index.json with the committed expected results.

Prints the counts per behaviour and exits 1 if any case got worse (or went
missing). Usage: check.py REPORT_INDEX EXPECTED [--write] [--only-run]
(--only-run: compare only the cases the report has, for a partial run).
"""
import collections
import json
import sys

# INFORMATIONAL cases have no verdict; they rank with OK.
RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3}


def load_report(path):
    data = json.load(open(path))
    (agent,) = data.values()
    return {case: {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]} for case, r in agent.items()}


def main():
    report = load_report(sys.argv[1])
    if "--write" in sys.argv:
        json.dump(dict(sorted(report.items(), key=lambda kv: [int(x) for x in kv[0].split(".")])), open(sys.argv[2], "w"), indent=1)
        print(f"wrote {len(report)} cases to {sys.argv[2]}")
    expected = json.load(open(sys.argv[2]))
    for key in ("behavior", "behaviorClose"):
        counts = collections.Counter(r[key] for r in report.values())
        print(f"{key}: " + ", ".join(f"{n} {b}" for b, n in sorted(counts.items())))
    worse = []
    for case, exp in expected.items():
        got = report.get(case)
        if got is None and "--only-run" in sys.argv:
            continue
        for key in ("behavior", "behaviorClose"):
            have = got[key] if got else "MISSING"
            if RANK.get(have, 9) > RANK.get(exp[key], 9):
                worse.append(f"{case} {key}: expected {exp[key]}, got {have}")
    if worse:
        print("Autobahn regressions:\n  " + "\n  ".join(worse))
        sys.exit(1)
    print(f"autobahn: {len(expected)} cases, none worse than expected")


if __name__ == "__main__":
    main()
