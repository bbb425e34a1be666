#!/usr/bin/python3
"""Trains a byte-level BPE tokenizer on the training split (never the held-out one).

Pre-tokenization is llama.cpp's "qwen2" rule (single digits, newlines apart from indentation,
no space clean-up on decoding, which would damage code such as `from . import x`); tokens are
GPT-2's byte-to-unicode strings, so the GGUF metadata is the usual `gpt2` model.
Merges are chosen greedily by pair frequency; ties go to the smaller (left id, right id), so the
result depends only on the corpus.

Writes OUT/tokenizer.json: {"pre", "tokens", "types", "merges", "special": {name: id}}.
"""
import argparse
import heapq
import json
import os
import sys
from collections import Counter, defaultdict

try:
    import regex
except ImportError:
    sys.exit("train_tokenizer: error: the python3-regex package is required")

QWEN2 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|mask|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]


def byte_to_unicode():
    """GPT-2's reversible map from bytes to printable characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--vocab", type=int, default=4096, help="total vocabulary size, specials included")
    args = ap.parse_args()

    pattern = regex.compile(QWEN2)
    words = Counter()
    with open(os.path.join(args.data, "train.jsonl"), encoding="utf-8") as f:
        for line in f:
            words.update(pattern.findall(json.loads(line)["text"]))
    print(f"{len(words)} distinct pre-tokens", file=sys.stderr)

    b2u = byte_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    index = {t: i for i, t in enumerate(tokens)}
    seqs = [list(w.encode("utf-8")) for w in words]
    freq = list(words.values())

    pairs = Counter()
    where = defaultdict(set)
    for wi, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += freq[wi]
            where[(a, b)].add(wi)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)

    merges = []
    target = args.vocab - len(SPECIALS)
    while len(tokens) < target and heap:
        c, p = heapq.heappop(heap)
        if pairs.get(p, 0) != -c or c == 0:
            continue  # stale entry
        a, b = p
        text = tokens[a] + tokens[b]
        new = index.get(text)
        if new is None:
            new = len(tokens)
            tokens.append(text)
            index[text] = new
        merges.append(tokens[a] + " " + tokens[b])
        changed = Counter()
        for wi in where.pop(p):
            s, f = seqs[wi], freq[wi]
            for x, y in zip(s, s[1:]):
                changed[(x, y)] -= f
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[wi] = out
            for x, y in zip(out, out[1:]):
                changed[(x, y)] += f
                where[(x, y)].add(wi)
        pairs.pop(p, None)
        for q, d in changed.items():
            if d == 0 or q == p:
                continue
            pairs[q] += d
            if pairs[q] <= 0:
                del pairs[q]
            else:
                heapq.heappush(heap, (-pairs[q], q))
        if len(merges) % 500 == 0:
            print(f"{len(merges)} merges, {len(tokens)} tokens", file=sys.stderr)

    special = {}
    types = [1] * len(tokens)
    for name in SPECIALS:
        special[name] = len(tokens)
        tokens.append(name)
        types.append(3)  # CONTROL
    out = {"pre": "qwen2", "tokens": tokens, "types": types, "merges": merges, "special": special}
    path = os.path.join(args.data, "tokenizer.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
    os.replace(path + ".tmp", path)
    print(f"{len(tokens)} tokens, {len(merges)} merges -> {path}")


if __name__ == "__main__":
    main()
