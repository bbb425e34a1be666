#!/usr/bin/python3
"""Regenerates tests/data/embedded_models.json: the greedy outputs of the shipped models that
tests/embedded_models_test.cc checks (so that a kernel or sampler change that alters what the
shipped models produce is noticed). Run it only when such a change is intended, and say so in the
commit message."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCULPT = os.path.join(ROOT, "build", "sculpt")
CASES = {
    "generate": {"prompt": "def fibonacci(n):\n", "n": 32},
    "infill": {"prefix": "def area(width, height):\n", "suffix": "\n    return result\n", "hole_tokens": 8},
}


def run(args):
    return json.loads(subprocess.run([SCULPT] + args + ["--json", "-t", "1"], check=True,
                                     capture_output=True, text=True).stdout)


def main():
    out = {}
    for model in ("sculpt-code-diffusion.gguf", "sculpt-code-ar.gguf"):
        path = os.path.join(ROOT, "models", model)
        g, i = CASES["generate"], CASES["infill"]
        gen = run(["generate", "-m", path, "-p", g["prompt"], "-n", str(g["n"])])
        fill = run(["infill", "-m", path, "--prefix", i["prefix"], "--suffix", i["suffix"],
                    "--hole-tokens", str(i["hole_tokens"])])
        out[model] = {"generate": {**g, "ids": gen["ids"], "text": gen["text"]},
                      "infill": {**i, "ids": fill["ids"], "infill": fill["infill"]}}
        print(f"{model}:\n--- generate ---\n{g['prompt']}{gen['text']}\n--- infill ---\n{i['prefix']}"
              f"[{fill['infill']}]{i['suffix']}")
    with open(os.path.join(ROOT, "tests", "data", "embedded_models.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
