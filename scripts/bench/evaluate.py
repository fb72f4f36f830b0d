#!/usr/bin/env python3
"""Precision and recall of 1:1 matches against the generated truth (plain Python, no pandas).

    evaluate.py <truth.csv> <label>=<matches.csv> [<label>=<matches.csv> ...]

truth.csv (from gen-recon-data): kind,bank_ids,ledger_ids with kind pair | pair_typo | split.
A predicted match (left_ids = bank, right_ids = ledger) is correct when it is a true 1:1 pair.

- precision         = correct / predicted
- recall (findable) = correct pairs of kind `pair` / pairs of kind `pair` (reference equal up to
                      case, spaces and punctuation: what a reference pass can find)
- recall (1:1)      = correct / all true 1:1 pairs (typo'd references included)
- recall (all)      = correct / all truth groups (split payments count as missed: a 1:1 pass
                      cannot find them)

With two or more match files it also prints how far they agree (same set of pairs or not).
"""
import csv
import sys


def read_matches(path):
    with open(path, newline="") as f:
        return {(row["left_ids"], row["right_ids"]) for row in csv.DictReader(f)}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pairs, typos, splits = set(), set(), 0
    with open(sys.argv[1], newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "pair":
                pairs.add((row["bank_ids"], row["ledger_ids"]))
            elif row["kind"] == "pair_typo":
                typos.add((row["bank_ids"], row["ledger_ids"]))
            else:
                splits += 1
    results = {}
    print(f"truth: {len(pairs)} findable pairs, {len(typos)} pairs with a reference typo, {splits} split payments")
    print(f"{'':<8} {'predicted':>10} {'correct':>10} {'precision':>10} {'recall findable':>16} {'recall 1:1':>11} {'recall all':>11}")
    for arg in sys.argv[2:]:
        label, path = arg.split("=", 1)
        m = read_matches(path)
        results[label] = m
        ok_pairs = len(m & pairs)
        ok = ok_pairs + len(m & typos)
        precision = ok / len(m) if m else float("nan")
        print(
            f"{label:<8} {len(m):>10} {ok:>10} {precision:>10.4%} {ok_pairs / len(pairs):>16.4%} "
            f"{ok / (len(pairs) + len(typos)):>11.4%} {ok / (len(pairs) + len(typos) + splits):>11.4%}"
        )
        print(f"RESULT label={label} predicted={len(m)} correct={ok} precision={precision:.6f} "
              f"recall_findable={ok_pairs / len(pairs):.6f} recall_1to1={ok / (len(pairs) + len(typos)):.6f}")
    labels = list(results)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            both = len(results[a] & results[b])
            print(
                f"agreement {a} vs {b}: {both} pairs in both, {len(results[a] - results[b])} only in {a}, "
                f"{len(results[b] - results[a])} only in {b}"
                + (" (identical match sets)" if results[a] == results[b] else "")
            )


if __name__ == "__main__":
    main()
