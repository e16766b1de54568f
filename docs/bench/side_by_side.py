#!/usr/bin/env python3
"""Lumen against llama.cpp, side by side, as docs/PERFORMANCE.md reports it.

For each round and each model, `lumen-cli bench` and then `llama-bench` run on the
same GGUF file with the same thread count, so that both engines see the same state
of the machine; the rounds alternate the two engines over time. lumen-cli measures
the memory-read ceiling in each of its runs, so "% of ceiling" is against the
bandwidth the machine had at that moment. The table gives medians over rounds:
tok/s of each engine and the median of the per-round ratios.

usage:
  side_by_side.py --lumen build/app/lumen-cli --llama-bench PATH/llama-bench \\
      --rounds 3 [-p 512] [-n 128] [-r 3] [--threads 2] [--raw raw.jsonl] MODEL.gguf...

Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_name(o):
    return f"pp{o['n_prompt']}" if o["n_prompt"] else f"tg{o['n_gen']}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lumen", required=True)
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--raw", help="append every JSON record to this file")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()

    # results[(model, test)] = {"lumen": [...], "llama": [...], "ratio": [...], "pct": [...]}
    results = {}
    raw = open(a.raw, "a") if a.raw else None
    for rnd in range(a.rounds):
        for model in a.models:
            name = os.path.basename(model)
            lumen = run_json([a.lumen, "bench", "--model", model, "-p", str(a.p), "-n", str(a.n), "-r", str(a.r),
                              "--threads", str(a.threads), "-o", "json"])
            llama = run_json([a.llama_bench, "-m", model, "-p", str(a.p), "-n", str(a.n), "-r", str(a.r),
                              "-t", str(a.threads), "-o", "json"])
            by_test = {}
            for engine, records in (("lumen", lumen), ("llama", llama)):
                for o in records:
                    by_test.setdefault(test_name(o), {})[engine] = o
                    if raw:
                        raw.write(json.dumps({"round": rnd, "engine": engine, "model": name, **o}) + "\n")
            for test, pair in by_test.items():
                if "lumen" not in pair or "llama" not in pair:
                    continue
                slot = results.setdefault((name, test), {"lumen": [], "llama": [], "ratio": [], "pct": []})
                ours, theirs = pair["lumen"]["avg_ts"], pair["llama"]["avg_ts"]
                slot["lumen"].append(ours)
                slot["llama"].append(theirs)
                slot["ratio"].append(ours / theirs)
                if pair["lumen"].get("pct_of_ceiling") is not None:
                    slot["pct"].append(pair["lumen"]["pct_of_ceiling"])
                print(f"round {rnd + 1} {name} {test}: lumen {ours:.2f} llama.cpp {theirs:.2f} "
                      f"ratio {ours / theirs:.2f}", file=sys.stderr, flush=True)

    print("| model | test | Lumen tok/s | llama.cpp tok/s | Lumen ÷ llama.cpp (per round) | "
          "Lumen % of ceiling |")
    print("|---|---|---|---|---|---|")
    for (name, test), s in results.items():
        per_round = " / ".join(f"{r:.2f}" for r in s["ratio"])
        pct = f"{statistics.median(s['pct']):.0f}%" if s["pct"] else ""
        print(f"| {name} | {test} | {statistics.median(s['lumen']):.1f} | {statistics.median(s['llama']):.1f} | "
              f"**{statistics.median(s['ratio']):.2f}** ({per_round}) | {pct} |")


if __name__ == "__main__":
    main()
