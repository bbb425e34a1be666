#!/usr/bin/python3
"""Trains the embedded models on CPU with PyTorch (Debian's python3-torch).

  --arch llada   masked diffusion (LLaDA/MDLM objective): t ~ U(eps, 1), each token masked with
                 probability t, cross-entropy on masked positions weighted 1/t; bidirectional.
  --arch llama   the autoregressive twin: next-token loss on the stream with fill-in-the-middle
                 chunks (prepare.py); causal.

The network is exactly what Sculpt (and llama.cpp) run for these architectures: RMSNorm, rotary
embeddings on adjacent pairs (llama.cpp's "normal" RoPE, so no weight permutation on export),
SwiGLU, untied output. Batches are drawn from a generator seeded by (seed, step), so a run resumed
from its checkpoint continues exactly as if it had not stopped. --export writes weights.json and
weights.bin for tools/export (sculpt-export).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d, heads, ff, eps):
        super().__init__()
        self.heads, self.eps = heads, eps
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.ffn_norm = nn.Parameter(torch.ones(d))
        self.gate, self.up = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin, causal):
        B, T, D = x.shape
        H, hd = self.heads, D // self.heads
        h = rms_norm(x, self.attn_norm, self.eps)
        q = rope(self.q(h).view(B, T, H, hd), cos, sin).transpose(1, 2)
        k = rope(self.k(h).view(B, T, H, hd), cos, sin).transpose(1, 2)
        v = self.v(h).view(B, T, H, hd).transpose(1, 2)
        if x.is_cuda:  # fused attention (flash) on a GPU; the same function as below
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            if causal:
                att = att.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            y = att.float().softmax(-1).to(v.dtype) @ v
        y = y.transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        h = rms_norm(x, self.ffn_norm, self.eps)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def rms_norm(x, w, eps):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w.to(x.dtype)


def rope(x, cos, sin):
    # x: [B, T, H, hd]; pairs (2i, 2i+1) rotate by pos * base^(-2i/hd)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Model(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.h = h
        d = h["embedding_length"]
        self.embed = nn.Embedding(h["vocab_size"], d)
        self.blocks = nn.ModuleList(Block(d, h["attention.head_count"], h["feed_forward_length"],
                                          h["attention.layer_norm_rms_epsilon"]) for _ in range(h["block_count"]))
        self.norm = nn.Parameter(torch.ones(d))
        self.out = nn.Linear(d, h["vocab_size"], bias=False)
        hd = d // h["attention.head_count"]
        inv = h["rope.freq_base"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(h["context_length"], dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):  # noqa: E501
                nn.init.normal_(m.weight, std=0.02)
        for b in self.blocks:  # scaled residual projections (GPT-2)
            nn.init.normal_(b.o.weight, std=0.02 / math.sqrt(2 * h["block_count"]))
            nn.init.normal_(b.down.weight, std=0.02 / math.sqrt(2 * h["block_count"]))

    def hidden(self, ids, causal):
        T = ids.shape[1]
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, self.cos[:T], self.sin[:T], causal)
        return rms_norm(x, self.norm, self.h["attention.layer_norm_rms_epsilon"])

    def forward(self, ids, causal):
        return self.out(self.hidden(ids, causal))

    def gguf_tensors(self):
        """(GGUF name, float32 array in PyTorch [rows, cols] order)."""
        return [(n, t.detach().float().cpu().contiguous().numpy()) for n, t in self.gguf_parameters()]

    def gguf_parameters(self):
        out = [("token_embd.weight", self.embed.weight)]
        for i, b in enumerate(self.blocks):
            p = f"blk.{i}."
            out += [(p + "attn_norm.weight", b.attn_norm), (p + "attn_q.weight", b.q.weight),
                    (p + "attn_k.weight", b.k.weight), (p + "attn_v.weight", b.v.weight),
                    (p + "attn_output.weight", b.o.weight), (p + "ffn_norm.weight", b.ffn_norm),
                    (p + "ffn_gate.weight", b.gate.weight), (p + "ffn_up.weight", b.up.weight),
                    (p + "ffn_down.weight", b.down.weight)]
        out += [("output_norm.weight", self.norm), ("output.weight", self.out.weight)]
        return out


MASK_EPS = 1e-3


def batch(stream, rng, n, length):
    starts = rng.integers(0, len(stream) - length, size=n)
    return torch.from_numpy(np.stack([stream[s:s + length] for s in starts]).astype(np.int64))


def line_spans(ids, newline, gen):
    """Per row, a mask over one to three whole lines starting at a random line start (the token
    after one that holds a newline) and stopping before the newline that ends them."""
    B, T = ids.shape
    nl = newline[ids]
    pos = torch.arange(T, device=ids.device)[None, :]
    start_ok = torch.zeros_like(nl)
    start_ok[:, 1:] = nl[:, :-1]
    r = torch.rand(B, T, generator=gen).to(ids.device)
    start = torch.where(start_ok, r, torch.full_like(r, -1.0)).argmax(1, keepdim=True)
    lines = torch.randint(1, 4, (B, 1), generator=gen).to(ids.device)
    count = torch.cumsum((nl & (pos >= start)).int(), dim=1)
    end = torch.where(count >= lines, pos, torch.full_like(pos, T)).min(1, keepdim=True).values
    return (pos >= start) & (pos < end)


def loss_on(model, arch, ids, mask_id, gen, shift=False, newline=None, span_frac=0.0):
    """Training loss of one batch; `gen` draws the timesteps and masks (diffusion). shift: the
    diffusion model predicts the token at position i from row i - 1 (Dream's convention, which
    keeps an autoregressive initialisation's next-token head useful); position 0 is never masked.
    span_frac: that fraction of the rows masks whole lines (line_spans) instead of independent
    tokens, weighted by 1 / (the fraction of the row masked), so such a row adds its mean loss."""
    if arch == "llama":
        logits = model(ids[:, :-1], causal=True)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    B, T = ids.shape
    t = torch.rand(B, 1, generator=gen).to(ids.device)
    p = (1 - MASK_EPS) * t + MASK_EPS
    masked = torch.rand(B, T, generator=gen).to(ids.device) < p
    if span_frac > 0:
        spans = line_spans(ids, newline, gen)
        use = (torch.rand(B, 1, generator=gen) < span_frac).to(ids.device)
        if shift:
            spans[:, 0] = False
        masked = torch.where(use, spans, masked)
        p = torch.where(use, spans.float().sum(1, keepdim=True).clamp(min=1) / T, p)
    if shift:
        masked[:, 0] = False
    noisy = torch.where(masked, torch.full_like(ids, mask_id), ids)
    # Logits only where the loss is (the masked positions): half the output layer on average.
    h = model.hidden(noisy, causal=False)
    x = torch.roll(h, 1, dims=1)[masked] if shift else h[masked]
    ce = F.cross_entropy(model.out(x).float(), ids[masked], reduction="none")
    return (ce / p.expand(B, T)[masked]).sum() / (B * T)


def export(model, h, arch, name, seed, out_dir, dtype="f32"):
    tensors, offset, blobs = [], 0, []
    for n, a in model.gguf_tensors():
        tensors.append({"name": n, "shape": list(a.shape), "offset": offset})
        blobs.append(a.astype("<f4" if dtype == "f32" else "<f2").tobytes())
        offset += len(blobs[-1])
    with open(os.path.join(out_dir, "weights.bin.tmp"), "wb") as f:
        for b in blobs:
            f.write(b)
    with open(os.path.join(out_dir, "weights.json.tmp"), "w") as f:
        json.dump({"arch": arch, "name": name, "hparams": h, "seed": seed, "dtype": dtype, "tensors": tensors}, f,
                  indent=1)
    for x in ("weights.bin", "weights.json"):
        os.replace(os.path.join(out_dir, x + ".tmp"), os.path.join(out_dir, x))


def load_exported(out_dir):
    """The model that weights.json/.bin (export) hold."""
    meta = json.load(open(os.path.join(out_dir, "weights.json")))
    model = Model(meta["hparams"])
    blob = open(os.path.join(out_dir, "weights.bin"), "rb").read()
    dt = np.dtype("<f2" if meta.get("dtype") == "f16" else "<f4")
    arrays = {t["name"]: np.frombuffer(blob, dtype=dt, count=int(np.prod(t["shape"])), offset=t["offset"])
              .reshape(t["shape"]) for t in meta["tensors"]}
    with torch.no_grad():
        for n, p in model.gguf_parameters():
            p.copy_(torch.from_numpy(arrays[n].astype(np.float32)))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["llada", "llama"], required=True)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--out", help="checkpoint directory (default DATA/ARCH)")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=704)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=float, default=7e6, help="training budget in tokens")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on either)")
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--stop-after", type=float, default=0, help="stop (resumably) after this many seconds")
    ap.add_argument("--export", action="store_true", help="write weights.json/.bin from the checkpoint and exit")
    ap.add_argument("--export-dtype", choices=["f32", "f16"], default="f32",
                    help="element type of weights.bin (f16 halves what a GPU machine sends back)")
    ap.add_argument("--extend", action="store_true",
                    help="resume a checkpoint made with a smaller --tokens (the schedule stretches to the new total)")
    ap.add_argument("--init-from", help="start from this checkpoint's weights (fresh optimizer and schedule)")
    ap.add_argument("--span-frac", type=float, default=0.0,
                    help="llada only: fraction of rows that mask one to three whole lines (infill practice)")
    ap.add_argument("--shift-logits", action="store_true",
                    help="llada only: predict position i from row i - 1 (diffusion.shift_logits = true)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or os.path.join(args.data, args.arch)
    os.makedirs(out, exist_ok=True)
    tok = json.load(open(os.path.join(args.data, "tokenizer.json"), encoding="utf-8"))
    mask_id = tok["special"]["<|mask|>"]
    # Tokens that hold a newline (byte-level BPE shows the byte 0x0A as U+010A).
    newline = torch.tensor(["\u010a" in x for x in tok["tokens"]], device=args.device)
    kind = "dlm" if args.arch == "llada" else "ar"
    train = np.fromfile(os.path.join(args.data, f"train_{kind}.bin"), dtype="<u2")
    held = np.fromfile(os.path.join(args.data, f"heldout_{kind}.bin"), dtype="<u2")

    h = {"vocab_size": len(tok["tokens"]), "context_length": args.ctx, "embedding_length": args.d_model,
         "block_count": args.layers, "feed_forward_length": args.ff, "attention.head_count": args.heads,
         "attention.head_count_kv": args.heads, "rope.freq_base": 10000.0,
         "attention.layer_norm_rms_epsilon": 1e-5}
    if args.span_frac and args.arch != "llada":
        sys.exit("train: error: --span-frac is for the diffusion model")
    if args.shift_logits:
        if args.arch != "llada":
            sys.exit("train: error: --shift-logits is for the diffusion model")
        h["shift_logits"] = True
    torch.manual_seed(args.seed)
    model = Model(h)
    if args.init_from and not os.path.exists(os.path.join(out, "checkpoint.pt")):
        init = torch.load(args.init_from, map_location="cpu")
        if {k: v for k, v in init["hparams"].items() if k != "shift_logits"} != \
                {k: v for k, v in h.items() if k != "shift_logits"}:
            sys.exit(f"train: error: {args.init_from} has another shape")
        model.load_state_dict(init["model"])
        print(f"initialised from {args.init_from} (step {init['state']['step']})", file=sys.stderr)
    dev = torch.device(args.device)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    seq = args.ctx + 1 if args.arch == "llama" else args.ctx
    steps = int(math.ceil(args.tokens / (args.batch * args.ctx)))
    ckpt = os.path.join(out, "checkpoint.pt")
    state = {"step": 0, "log": [], "eval": [], "seconds": 0.0}
    if os.path.exists(ckpt):
        c = torch.load(ckpt, map_location="cpu")
        if c["hparams"] != h or (c["steps"] != steps and not (args.extend and c["steps"] < steps)):
            sys.exit(f"train: error: {ckpt} was made with other settings; use another --out")
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])  # follows the parameters' device
        state = c["state"]
        print(f"resumed at step {state['step']}/{steps}", file=sys.stderr)
    name = f"sculpt-code-{'diffusion' if args.arch == 'llada' else 'ar'}-{sum(p.numel() for p in model.parameters()) / 1e6:.0f}m"
    if args.export:
        export(model, h, args.arch, name, args.seed, out, args.export_dtype)
        print(f"exported step {state['step']} of {steps} -> {out}/weights.json", file=sys.stderr)
        return

    def save():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "hparams": h,
                    "steps": steps}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
        with open(os.path.join(out, "log.json.tmp"), "w") as f:
            json.dump({"arch": args.arch, "hparams": h, "batch": args.batch, "steps": steps,
                       "tokens_per_step": args.batch * args.ctx, **state}, f)
        os.replace(os.path.join(out, "log.json.tmp"), os.path.join(out, "log.json"))

    def held_out_loss():
        model.eval()
        rng, gen = np.random.default_rng([args.seed, 999]), torch.Generator().manual_seed(999)
        total = 0.0
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16):
            for _ in range(8):
                total += loss_on(model, args.arch, batch(held, rng, 16, seq).to(dev), mask_id, gen,
                                 args.shift_logits).item()  # independent masks: comparable across runs
        model.train()
        return total / 8

    start = time.time()
    t0 = time.time() - state["seconds"]
    while state["step"] < steps:
        step = state["step"]
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        ids = batch(train, rng, args.batch, seq).to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = loss_on(model, args.arch, ids, mask_id, gen, args.shift_logits, newline, args.span_frac)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] = step + 1
        state["seconds"] = time.time() - t0
        if step % args.log_every == 0:
            state["log"].append([step, loss.item()])
            tps = (step + 1) * args.batch * args.ctx / max(state["seconds"], 1e-9)
            print(f"step {step}/{steps} loss {loss.item():.4f} lr {lr:.2e} {tps:.0f} tok/s", file=sys.stderr, flush=True)
        if state["step"] % args.eval_every == 0 or state["step"] == steps:
            state["eval"].append([state["step"], held_out_loss()])
            print(f"step {state['step']} held-out loss {state['eval'][-1][1]:.4f}", file=sys.stderr, flush=True)
        if state["step"] % args.checkpoint_every == 0 or state["step"] == steps:
            save()
        if args.stop_after and time.time() - start > args.stop_after:
            save()
            export(model, h, args.arch, name, args.seed, out, args.export_dtype)
            print(f"stopped at step {state['step']}/{steps}; run again to resume", file=sys.stderr)
            return
    save()
    export(model, h, args.arch, name, args.seed, out, args.export_dtype)
    print(f"done: {steps} steps, {state['seconds'] / 60:.1f} min -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
