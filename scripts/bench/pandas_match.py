#!/usr/bin/env python3
"""pandas equivalent of `match-bench`: the same 1:1 pass, from the same CSV files to the same outputs.

    pandas_match.py <bank.csv> <ledger.csv> <out-dir>

The pass (identical to the Rust rule set in bench/src/bin/match_bench.rs):
- key: currency (upper-cased) plus the normalised reference: lower-cased, every whitespace and
  punctuation character removed (regex [\\W_]; for the ASCII references of the generated data
  this is exactly Rust's "keep char::is_alphanumeric"), empty references take no part;
- amount: |bank - ledger| <= 0.01, compared in INTEGER CENTS (amounts are parsed as float64 and
  rounded to cents, which is exact for two-decimal amounts below 2^53 / 100);
- booking dates at most 3 days apart.

Resolution to 1:1 is the engine's, not a greedy sort: every candidate pair gets the engine's score
(mean of the amount component 1 - diff/0.01 and the date component 1 - days/4), here as the
equivalent integer rank key 4 * diff_cents + days (lower is better; score = 1 - key / 8). At most
20 candidates are kept per bank record (best first, then ledger id). Then, in rounds, every pair
in which each record is the other's UNIQUE best available candidate is confirmed, confirmed
records leave the pool, and the bests are recomputed, until nothing changes. Records whose best
is still shared by two or more candidates are withheld as tie suggestions (with their tied
candidates, at most 10 listed), like the engine does; everything else is unmatched. So "smallest
amount difference, then date difference, ties dropped" is the engine's rule, applied iteratively.

Outputs: matches.csv (left_ids,right_ids,pass,score), unmatched_left.csv and unmatched_right.csv
(id,status with status unmatched | suggested). Prints timings per phase and a RESULT line.
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PASS_NAME = "reference 1:1"
TOLERANCE_CENTS = 1
WINDOW_DAYS = 3
MAX_CANDIDATES = 20
MAX_LISTED_TIES = 10


def load(path, id_col, date_col, ref_col):
    df = pd.read_csv(
        path,
        usecols=[id_col, date_col, "amount", "currency", ref_col],
        dtype={id_col: str, date_col: str, "amount": "float64", "currency": str, ref_col: str},
        keep_default_na=False,
    )
    out = pd.DataFrame({"id": df[id_col].str.strip()})
    out["day"] = pd.to_datetime(df[date_col], format="%Y-%m-%d").values.astype("datetime64[D]").astype("int64")
    out["cents"] = (df["amount"] * 100).round().astype("int64")
    out["cur"] = df["currency"].str.strip().str.upper()
    out["ref"] = df[ref_col].str.lower().str.replace(r"[\W_]+", "", regex=True)
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: pandas_match.py <bank.csv> <ledger.csv> <out-dir>")
    bank_path, ledger_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    t_total = time.perf_counter()

    t = time.perf_counter()
    left = load(bank_path, "id", "booking_date", "reference")
    right = load(ledger_path, "entry_id", "posting_date", "doc_ref")
    import_s = time.perf_counter() - t
    print(f"pandas: {len(left)} bank x {len(right)} ledger records", file=sys.stderr)

    t = time.perf_counter()
    nl, nr = len(left), len(right)
    lk = left[left["ref"] != ""][["cur", "ref", "cents", "day"]].reset_index(names="l")
    rk = right[right["ref"] != ""][["cur", "ref", "cents", "day"]].reset_index(names="r")
    e = lk.merge(rk, on=["cur", "ref"], suffixes=("_l", "_r"))
    dc = (e["cents_l"] - e["cents_r"]).abs()
    dd = (e["day_l"] - e["day_r"]).abs()
    ok = (dc <= TOLERANCE_CENTS) & (dd <= WINDOW_DAYS)
    edges = pd.DataFrame(
        {
            "l": e["l"].values[ok],
            "r": e["r"].values[ok],
            # Integer form of the engine's score: 2 * tol * (window + 1) * (1 - score).
            "k": (dc[ok] * (WINDOW_DAYS + 1) + dd[ok] * TOLERANCE_CENTS).values,
        }
    )
    del e, lk, rk
    # At most MAX_CANDIDATES per bank record: best first, then ledger id.
    per_l = edges.groupby("l")["l"].transform("size")
    if (per_l > MAX_CANDIDATES).any():
        many = edges[per_l > MAX_CANDIDATES].assign(rid=lambda d: right["id"].values[d["r"].values])
        many = many.sort_values(["l", "k", "rid"]).groupby("l").head(MAX_CANDIDATES).drop(columns="rid")
        edges = pd.concat([edges[per_l <= MAX_CANDIDATES], many], ignore_index=True)

    avail_l = np.ones(nl, dtype=bool)
    avail_r = np.ones(nr, dtype=bool)
    confirmed = []
    rounds = 0
    while True:
        edges = edges[avail_l[edges["l"].values] & avail_r[edges["r"].values]]
        best_l = edges["k"] == edges.groupby("l")["k"].transform("min")
        best_r = edges["k"] == edges.groupby("r")["k"].transform("min")
        ties_l = best_l.groupby(edges["l"]).transform("sum")
        ties_r = best_r.groupby(edges["r"]).transform("sum")
        new = edges[best_l & best_r & (ties_l == 1) & (ties_r == 1)]
        if new.empty:
            break
        rounds += 1
        confirmed.append(new)
        avail_l[new["l"].values] = False
        avail_r[new["r"].values] = False
    matches = pd.concat(confirmed, ignore_index=True) if confirmed else edges.iloc[0:0]

    # Ties on the settled state become suggestions: subject and tied candidates are withheld.
    sug_l = np.zeros(nl, dtype=bool)
    sug_r = np.zeros(nr, dtype=bool)
    tied_l = edges[best_l & (ties_l >= 2)]  # subject l, candidates r
    tied_r = edges[best_r & (ties_r >= 2)]  # subject r, candidates l
    sug_l[tied_l["l"].values] = True
    sug_r[tied_r["r"].values] = True
    listed_r = (
        tied_l.assign(rid=right["id"].values[tied_l["r"].values]).sort_values(["l", "rid"]).groupby("l").head(MAX_LISTED_TIES)
    )
    listed_l = (
        tied_r.assign(lid=left["id"].values[tied_r["l"].values]).sort_values(["r", "lid"]).groupby("r").head(MAX_LISTED_TIES)
    )
    sug_r[listed_r["r"].values] = True
    sug_l[listed_l["l"].values] = True
    match_s = time.perf_counter() - t

    t = time.perf_counter()
    matches = matches.sort_values("l")
    pd.DataFrame(
        {
            "left_ids": left["id"].values[matches["l"].values],
            "right_ids": right["id"].values[matches["r"].values],
            "pass": PASS_NAME,
            "score": 1.0 - matches["k"].values / (2 * TOLERANCE_CENTS * (WINDOW_DAYS + 1)),
        }
    ).to_csv(out / "matches.csv", index=False, float_format="%.9f")
    matched_l = np.zeros(nl, dtype=bool)
    matched_r = np.zeros(nr, dtype=bool)
    matched_l[matches["l"].values] = True
    matched_r[matches["r"].values] = True
    for name, side, matched, sug in (
        ("unmatched_left.csv", left, matched_l, sug_l),
        ("unmatched_right.csv", right, matched_r, sug_r),
    ):
        rest = ~matched
        pd.DataFrame(
            {"id": side["id"].values[rest], "status": np.where(sug[rest], "suggested", "unmatched")}
        ).to_csv(out / name, index=False)
    write_s = time.perf_counter() - t
    total_s = time.perf_counter() - t_total

    n_sug = int(tied_l["l"].nunique() + tied_r["r"].nunique())
    print(
        f"pandas: {len(matches)} matches in {rounds} rounds, {n_sug} suggestions "
        f"({int(sug_l.sum())} + {int(sug_r.sum())} records withheld), "
        f"{int((~matched_l & ~sug_l).sum())} + {int((~matched_r & ~sug_r).sum())} unmatched"
    )
    print(f"pandas: import {import_s:.3f}s, match {match_s:.3f}s, write {write_s:.3f}s, total {total_s:.3f}s (pandas {pd.__version__})")
    print(
        f"RESULT import_s={import_s:.3f} match_s={match_s:.3f} write_s={write_s:.3f} total_s={total_s:.3f} "
        f"matches={len(matches)} suggestions={n_sug}"
    )


if __name__ == "__main__":
    main()
