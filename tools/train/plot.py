#!/usr/bin/python3
"""Draws the training curves of both models (log.json written by train.py) as one SVG: a panel per
model, training loss (mean of 5 logged points) and held-out loss against training tokens.
The diffusion loss is the 1/t-weighted masked cross-entropy (an upper bound on the negative log-
likelihood per token), the autoregressive one the next-token cross-entropy: both in nats/token."""
import argparse
import json
import os


def panel(log, title, x0, y0, w, h):
    tps = log["tokens_per_step"]
    train = log["log"]
    smooth = []
    for i in range(len(train)):
        window = train[max(0, i - 2):i + 3]
        smooth.append((train[i][0] * tps / 1e6, sum(v for _, v in window) / len(window)))
    held = [(s * tps / 1e6, v) for s, v in log["eval"]]
    xmax = log["steps"] * tps / 1e6
    ys = [v for _, v in smooth[3:]] + [v for _, v in held]
    ymin, ymax = min(ys) * 0.95, max(ys) * 1.05
    sx = lambda x: x0 + 50 + (w - 70) * x / xmax
    sy = lambda y: y0 + h - 40 - (h - 70) * (y - ymin) / (ymax - ymin)
    out = [f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<rect x="{x0 + 50}" y="{y0 + 30}" width="{w - 70}" height="{h - 70}" fill="none" stroke="#888"/>']
    for k in range(5):
        y = ymin + (ymax - ymin) * k / 4
        out.append(f'<text x="{x0 + 45}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{y:.2f}</text>')
        x = xmax * k / 4
        out.append(f'<text x="{sx(x):.1f}" y="{y0 + h - 24}" text-anchor="middle" font-size="11">{x:.1f}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h - 6}" text-anchor="middle" font-size="12">training tokens (millions)</text>')
    pts = " ".join(f"{sx(x):.1f},{sy(min(max(y, ymin), ymax)):.1f}" for x, y in smooth)
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in held)
    out.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="2"/>')
    for x, y in held:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#d62728"/>')
    out.append(f'<text x="{x0 + w - 30}" y="{y0 + 48}" text-anchor="end" font-size="12" fill="#1f77b4">training</text>')
    out.append(f'<text x="{x0 + w - 30}" y="{y0 + 64}" text-anchor="end" font-size="12" fill="#d62728">held out</text>')
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--out", default="models/training_curves.svg")
    args = ap.parse_args()
    logs = [json.load(open(os.path.join(args.data, a, "log.json"))) for a in ("llada", "llama")]
    w, h = 480, 320
    body = panel(logs[0], "diffusion (llada): weighted masked CE, nats/token", 0, 0, w, h)
    body += panel(logs[1], "autoregressive (llama): next-token CE, nats/token", w, 0, w, h)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" font-family="sans-serif">'
           f'<rect width="100%" height="100%" fill="white"/>' + "".join(body) + "</svg>\n")
    with open(args.out + ".tmp", "w") as f:
        f.write(svg)
    os.replace(args.out + ".tmp", args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
