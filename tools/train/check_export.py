#!/usr/bin/python3
"""Checks an exported GGUF against the PyTorch checkpoint it came from: the same held-out window
(a quarter of it masked for the diffusion model) through both, float32 in PyTorch, Sculpt's
kernels on the file; prints the largest logit difference and the argmax agreement, and fails when
they disagree beyond what F16 weights explain (--tol)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", choices=["llada", "llama"], required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--sculpt", default="build/sculpt")
    ap.add_argument("--tol", type=float, default=0.05)
    ap.add_argument("--weights", help="directory with checkpoint.pt or weights.json/.bin (default DATA/ARCH)")
    args = ap.parse_args()
    weights = args.weights or os.path.join(args.data, args.arch)
    path = os.path.join(weights, "checkpoint.pt")
    if os.path.exists(path):
        ckpt = torch.load(path)
        model = train.Model(ckpt["hparams"])
        model.load_state_dict(ckpt["model"])
    else:  # trained elsewhere (a GPU machine): the exported weights
        model = train.load_exported(weights)
    model.eval()
    tok = json.load(open(os.path.join(args.data, "tokenizer.json"), encoding="utf-8"))
    stream = np.fromfile(os.path.join(args.data, "heldout_dlm.bin"), dtype="<u2")
    ids = stream[1000:1000 + 128].astype(np.int64)
    if args.arch == "llada":
        ids[1::4] = tok["special"]["<|mask|>"]
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)[None], causal=args.arch == "llama")[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "l.f32")
        subprocess.run([args.sculpt, "logits", "-m", args.gguf, "-t", "1", "--tokens", " ".join(map(str, ids)),
                        "--out", out], check=True)
        got = np.fromfile(out, dtype="<f4").reshape(ref.shape)
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
    print(f"{args.gguf}: max |logit difference| {diff:.4g} (logits up to {np.abs(ref).max():.3g}), "
          f"argmax agreement {agree:.4f}")
    if diff > args.tol:
        sys.exit("check_export: error: the GGUF does not compute what the checkpoint does")


if __name__ == "__main__":
    main()
