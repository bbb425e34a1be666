#!/usr/bin/python3
"""Builds the two training streams from the corpus (after train_tokenizer.py).

  dlm.jsonl  every training file as is (the diffusion model's data)
  ar.jsonl   the same files; for half of them (chosen by a hash of the path) the file is cut at
             line boundaries into chunks of at most CHUNK bytes and every chunk is written in
             fill-in-the-middle form, so that a whole example fits in the training context and the
             autoregressive twin learns to infill. Half of the chunks are cut at two points uniform
             over their characters; the other half around one to three whole lines (the middle
             starts at a line's first character and stops before a newline), the shape of a line
             completion in an editor and of the infill evaluation.
  heldout_*  the same for the held-out split (used for validation curves only)
Then tokenizes all of them with build/sculpt-tokenize-corpus into *.bin (uint16).
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys

CHUNK = 1536          # bytes: about 480 tokens, so a chunk fits the 512-token context


def chunks(text):
    out, cur = [], ""
    for line in text.splitlines(keepends=True):
        if cur and len(cur) + len(line) > CHUNK:
            out.append(cur)
            cur = ""
        cur += line
    if cur:
        out.append(cur)
    return out


def cut_points(c, rng):
    if rng.random() < 0.5:
        return tuple(sorted((rng.randint(0, len(c)), rng.randint(0, len(c)))))
    starts = [0] + [k + 1 for k, ch in enumerate(c) if ch == "\n" and k + 1 < len(c)]
    a = rng.randrange(len(starts))
    b = min(len(starts) - 1, a + rng.randrange(3))
    end = starts[b + 1] - 1 if b + 1 < len(starts) else len(c.rstrip("\n"))
    return starts[a], max(starts[a], end)


def fim_half(path):
    return hashlib.sha256(("fim:" + path).encode("utf-8")).digest()[0] % 2 == 0


def write_streams(src, dlm_path, ar_path, seed):
    rng = random.Random(seed)
    n_fim = 0
    with open(src, encoding="utf-8") as f, open(dlm_path, "w", encoding="utf-8") as dlm, \
            open(ar_path, "w", encoding="utf-8") as ar:
        for line in f:
            doc = json.loads(line)
            text = doc["text"]
            dlm.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            if not fim_half(doc["path"]):
                ar.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
                continue
            for c in chunks(text):
                i, j = cut_points(c, rng)
                ar.write(json.dumps({"prefix": c[:i], "middle": c[i:j], "suffix": c[j:]},
                                    ensure_ascii=False) + "\n")
                n_fim += 1
    return n_fim


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--sculpt-bin", default="build")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    d = args.data
    vocab = os.path.join(d, "vocab.gguf")
    subprocess.run([os.path.join(args.sculpt_bin, "sculpt-export"), "--tokenizer", os.path.join(d, "tokenizer.json"),
                    "--out", vocab], check=True)
    for split in ("train", "heldout"):
        n = write_streams(os.path.join(d, split + ".jsonl"), os.path.join(d, split + "_dlm.jsonl"),
                          os.path.join(d, split + "_ar.jsonl"), args.seed)
        print(f"{split}: {n} fill-in-the-middle chunks", file=sys.stderr)
        for kind in ("dlm", "ar"):
            subprocess.run([os.path.join(args.sculpt_bin, "sculpt-tokenize-corpus"), "-m", vocab,
                            "--in", os.path.join(d, f"{split}_{kind}.jsonl"),
                            "--out", os.path.join(d, f"{split}_{kind}.bin")], check=True)


if __name__ == "__main__":
    main()
