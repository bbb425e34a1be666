#!/usr/bin/python3
"""Draws the training curves (log.json written by train.py) as one SVG with two panels, against
total training tokens: the diffusion model (stage 2 from the autoregressive base; the from-scratch
diffusion run, when build/train/llada-scratch exists, for comparison) and the autoregressive twin
(base, then stage 2). Training loss is the mean of 5 logged points; held-out loss is drawn with
dots. The diffusion loss is the 1/t-weighted masked cross-entropy (an upper bound on the negative
log-likelihood per token), the autoregressive one the next-token cross-entropy, both in nats."""
import argparse
import json
import os

COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"]


def series(log, offset):
    tps = log["tokens_per_step"]
    train = log["log"]
    smooth = []
    for i in range(len(train)):
        window = train[max(0, i - 2):i + 3]
        smooth.append((offset + train[i][0] * tps / 1e6, sum(v for _, v in window) / len(window)))
    held = [(offset + s * tps / 1e6, v) for s, v in log["eval"]]
    return smooth, held, offset + log["steps"] * tps / 1e6


def panel(runs, title, x0, y0, w, h):
    """runs: [(label, log, token offset in millions)]"""
    data = [(label,) + series(log, off) for label, log, off in runs]
    xmax = max(d[3] for d in data)
    ys = [v for d in data for _, v in d[1][3:]] + [v for d in data for _, v in d[2]]
    ymin, ymax = min(ys) * 0.95, min(max(ys) * 1.05, 9.0)
    sx = lambda x: x0 + 50 + (w - 70) * x / xmax
    sy = lambda y: y0 + h - 40 - (h - 70) * (min(max(y, ymin), ymax) - ymin) / (ymax - ymin)
    out = [f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<rect x="{x0 + 50}" y="{y0 + 30}" width="{w - 70}" height="{h - 70}" fill="none" stroke="#888"/>']
    for k in range(5):
        y = ymin + (ymax - ymin) * k / 4
        out.append(f'<text x="{x0 + 45}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{y:.2f}</text>')
        x = xmax * k / 4
        out.append(f'<text x="{sx(x):.1f}" y="{y0 + h - 24}" text-anchor="middle" font-size="11">{x:.1f}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h - 6}" text-anchor="middle" font-size="12">'
               f'training tokens (millions); dots: held-out loss</text>')
    for i, (label, smooth, held, _) in enumerate(data):
        c = COLORS[i % len(COLORS)]
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in smooth)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        for x, y in held:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{c}"/>')
        out.append(f'<text x="{x0 + w - 30}" y="{y0 + 48 + 16 * i}" text-anchor="end" font-size="12" fill="{c}">{label}</text>')
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--out", default="models/training_curves.svg")
    args = ap.parse_args()
    load = lambda name: json.load(open(os.path.join(args.data, name, "log.json")))
    base = load("llama-base")
    base_tokens = base["steps"] * base["tokens_per_step"] / 1e6
    diffusion = [("adapted from the AR base (stage 2)", load("llada"), base_tokens)]
    if os.path.exists(os.path.join(args.data, "llada-scratch", "log.json")):
        diffusion.append(("from scratch (not shipped)", load("llada-scratch"), 0.0))
    if os.path.exists(os.path.join(args.data, "llada-spans", "log.json")):
        diffusion.append(("half the rows line spans (not shipped)", load("llada-spans"), base_tokens))
    ar = [("base (stage 1)", base, 0.0), ("continued (stage 2)", load("llama"), base_tokens)]
    w, h = 480, 320
    body = panel(diffusion, "diffusion (llada): weighted masked CE", 0, 0, w, h)
    body += panel(ar, "autoregressive (llama): next-token CE", w, 0, w, h)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" font-family="sans-serif">'
           f'<rect width="100%" height="100%" fill="white"/>' + "".join(body) + "</svg>\n")
    with open(args.out + ".tmp", "w") as f:
        f.write(svg)
    os.replace(args.out + ".tmp", args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
