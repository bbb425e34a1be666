#!/usr/bin/python3
"""Evaluates the shipped models through Sculpt itself (the GGUF files, Sculpt's kernels).

  masked-token top-1 accuracy at mask ratios 0.15 and 0.5   diffusion model, held-out windows
  held-out perplexity                                       autoregressive twin, same windows
  single-line infill (tools/eval/infill_tasks.jsonl)        both: exact match (whitespace-
      normalised) and the fraction of filled functions that compile; the diffusion model fills a
      hole of the true token length (`sculpt infill --hole-tokens N`), the twin generates at most
      N tokens in fill-in-the-middle form (`sculpt infill` on a causal model), stopping at EOS.

Needs the held-out split (tools/train/corpus.py and prepare.py). Writes a JSON report.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"run_eval: error: {' '.join(cmd[:3])}...: {p.stderr.strip()}")
    return p.stdout


def windows(stream, n, length, seed):
    rng = np.random.default_rng(seed)
    return [stream[s:s + length].astype(np.int64) for s in rng.integers(0, len(stream) - length, size=n)]


def logits_batch(sculpt, model, seqs, threads, tmp):
    cmd = [sculpt, "logits", "-m", model, "-t", str(threads), "--out", os.path.join(tmp, "l")]
    for s in seqs:
        cmd += ["--tokens", " ".join(map(str, s))]
    run(cmd)
    out = []
    for i, s in enumerate(seqs):
        path = os.path.join(tmp, f"l.{i}.f32") if len(seqs) > 1 else os.path.join(tmp, "l")
        out.append(np.fromfile(path, dtype="<f4").reshape(len(s), -1))
    return out


def shifted(sculpt, model):
    """Whether the model predicts position p from row p - 1 (diffusion.shift_logits)."""
    for line in run([sculpt, "info", "-m", model]).splitlines():
        if line.startswith("shift logits:"):
            return line.split(":", 1)[1].strip().startswith("yes")
    return False


def masked_accuracy(args, mask_id, stream, ratio, tmp):
    shift = 1 if shifted(args.sculpt, args.diffusion) else 0
    rng = np.random.default_rng([args.seed, int(ratio * 1000)])
    seqs = windows(stream, args.windows, args.ctx, [args.seed, 1])
    hits = total = 0
    for b in range(0, len(seqs), 8):
        chunk = seqs[b:b + 8]
        noisy, where = [], []
        for s in chunk:
            # position 0 has no row to predict it from when logits are shifted
            pos = shift + rng.choice(len(s) - shift, size=max(1, round(ratio * (len(s) - shift))), replace=False)
            x = s.copy()
            x[pos] = mask_id
            noisy.append(x)
            where.append(pos)
        for s, pos, lg in zip(chunk, where, logits_batch(args.sculpt, args.diffusion, noisy, args.threads, tmp)):
            hits += int((lg[pos - shift].argmax(-1) == s[pos]).sum())
            total += len(pos)
    return hits / total, total


def perplexity(args, stream, tmp):
    seqs = windows(stream, args.windows, args.ctx, [args.seed, 1])
    nll, total = 0.0, 0
    for b in range(0, len(seqs), 8):
        chunk = seqs[b:b + 8]
        for s, lg in zip(chunk, logits_batch(args.sculpt, args.ar, chunk, args.threads, tmp)):
            lg = lg[:-1].astype(np.float64)
            m = lg.max(-1, keepdims=True)
            lse = (m[:, 0] + np.log(np.exp(lg - m).sum(-1)))
            nll += float((lse - lg[np.arange(len(s) - 1), s[1:]]).sum())
            total += len(s) - 1
    return float(np.exp(nll / total)), total


def norm(s):
    return " ".join(s.split())


def infill(args, model, tasks):
    em = ok = 0
    rows = []
    for t in tasks:
        out = json.loads(run([args.sculpt, "infill", "-m", model, "-t", str(args.threads), "--json",
                              "--prefix", t["prefix"], "--suffix", t["suffix"],
                              "--hole-tokens", str(t["hole_tokens"])]))
        fill = out["infills"][0]
        exact = norm(fill) == norm(t["middle"])
        try:
            compile(t["prefix"] + fill + t["suffix"], "<infill>", "exec")
            compiles = True
        except (SyntaxError, ValueError):
            compiles = False
        em += exact
        ok += compiles
        rows.append({"id": t["id"], "fill": fill, "exact": exact, "compiles": compiles})
    return {"exact_match": em / len(tasks), "compiles": ok / len(tasks), "n": len(tasks)}, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diffusion", default="models/sculpt-code-diffusion.gguf")
    ap.add_argument("--ar", default="models/sculpt-code-ar.gguf")
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--tasks", default=os.path.join(HERE, "infill_tasks.jsonl"))
    ap.add_argument("--sculpt", default="build/sculpt")
    ap.add_argument("--windows", type=int, default=64, help="held-out windows for accuracy and perplexity")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="build/eval.json")
    args = ap.parse_args()

    tok = int(run([args.sculpt, "tokenize", "-m", args.diffusion, "--parse-special", "--text", "<|mask|>"]).split()[0])
    stream = np.fromfile(os.path.join(args.data, "heldout_dlm.bin"), dtype="<u2")
    tasks = [json.loads(l) for l in open(args.tasks, encoding="utf-8")]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in (0.15, 0.5):
            acc, n = masked_accuracy(args, tok, stream, ratio, tmp)
            report[f"masked_accuracy_{ratio}"] = acc
            print(f"diffusion: masked-token top-1 accuracy at ratio {ratio}: {acc:.4f} ({n} tokens)", flush=True)
        ppl, n = perplexity(args, stream, tmp)
        report["ar_perplexity"] = ppl
        print(f"autoregressive: held-out perplexity {ppl:.3f} ({n} tokens)", flush=True)
    details = {}
    for name, model in (("diffusion", args.diffusion), ("autoregressive", args.ar)):
        summary, rows = infill(args, model, tasks)
        report[f"infill_{name}"] = summary
        details[name] = rows
        print(f"{name}: single-line infill on {summary['n']} tasks: exact match {summary['exact_match']:.3f}, "
              f"compiles {summary['compiles']:.3f}", flush=True)
    report["infill_rows"] = details
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(f"report -> {args.out}")


if __name__ == "__main__":
    main()
