#!/usr/bin/python3
"""Builds the single-line infill task set from the held-out split (never trained on).

For held-out files (in path order) every function (def / async def, at any depth) is taken out of
its file and dedented; functions that compile on their own and fit the models' context are
candidates. A seeded generator picks functions and, in each, one non-blank line of the body (the
`def` line, decorators and docstring lines excluded): the task is to fill that line's text (its
indentation included) between the prefix (ending in a newline) and the suffix (starting with one),
given its true length in tokens.

Writes tools/eval/infill_tasks.jsonl: {"id", "path", "prefix", "middle", "suffix", "hole_tokens"}.
"""
import argparse
import ast
import json
import os
import random
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_CHARS = 1280      # about 400 tokens: prompt, hole and FIM tokens fit a 512-token context
MAX_TOKENS = 400


def functions(text):
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    lines = text.split("\n")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            src = textwrap.dedent("\n".join(lines[start - 1:node.end_lineno])) + "\n"
            body_start = node.body[0].lineno - start
            if (isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
                    and isinstance(node.body[0].value.value, str)):
                body_start = node.body[0].end_lineno - start + 1  # skip the docstring
            yield src, body_start


def count_tokens(sculpt, vocab, text):
    out = subprocess.run([sculpt, "tokenize", "-m", vocab, "--text", text], check=True,
                         capture_output=True, text=True).stdout
    return len(out.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="build/train")
    ap.add_argument("--model", default="models/sculpt-code-diffusion.gguf", help="a GGUF with the tokenizer")
    ap.add_argument("--sculpt", default="build/sculpt")
    ap.add_argument("--n", type=int, default=250)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--out", default=os.path.join(HERE, "infill_tasks.jsonl"))
    args = ap.parse_args()

    candidates = []
    with open(os.path.join(args.data, "heldout.jsonl"), encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            for src, body_start in functions(doc["text"]):
                if len(src) > MAX_CHARS:
                    continue
                try:
                    compile(src, "<task>", "exec")
                except SyntaxError:
                    continue
                lines = src.split("\n")
                body = [i for i in range(body_start, len(lines)) if lines[i].strip()]
                if body:
                    candidates.append((doc["path"], src, body))
    rng = random.Random(args.seed)
    rng.shuffle(candidates)
    tasks = []
    for path, src, body in candidates:
        if len(tasks) == args.n:
            break
        if count_tokens(args.sculpt, args.model, src) > MAX_TOKENS:
            continue
        lines = src.split("\n")
        i = rng.choice(body)
        prefix = "\n".join(lines[:i]) + "\n"
        middle = lines[i]
        suffix = "\n" + "\n".join(lines[i + 1:])
        tasks.append({"id": len(tasks), "path": path, "prefix": prefix, "middle": middle, "suffix": suffix,
                      "hole_tokens": count_tokens(args.sculpt, args.model, middle)})
    if len(tasks) < args.n:
        sys.exit(f"make_tasks: error: only {len(tasks)} tasks from {len(candidates)} candidate functions")
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        for t in tasks:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    os.replace(args.out + ".tmp", args.out)
    print(f"{len(tasks)} tasks from {len(candidates)} candidate functions -> {args.out}")


if __name__ == "__main__":
    main()
