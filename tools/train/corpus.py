#!/usr/bin/python3
"""Gathers the training corpus: Python source files of Debian packages.

Deterministic: the files come from `dpkg -L` of the packages in packages.txt, sorted by path;
exact duplicates (same bytes) are dropped, keeping the first path; the split is decided by a hash
of the path ("<package>/<path>"), so a file is held out on every machine, whatever else is there.

Writes, under OUT (default build/train):
  train.jsonl, heldout.jsonl   one {"path": ..., "text": ...} object per line
  corpus.json                  the package list with versions, file and byte counts per split
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 256 * 1024       # bigger files are generated tables, not code people write
MAX_LINE = 1000              # a longer line is data (base64, tables), not code
HELDOUT_PER_MILLE = 50       # 5% of the files by path hash


def packages():
    names = []
    with open(os.path.join(HERE, "packages.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def package_files(name):
    try:
        out = subprocess.run(["dpkg", "-L", name], check=True, capture_output=True, text=True).stdout
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], check=True,
                                 capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        sys.exit(f"corpus: error: package {name} is not installed "
                 f"(apt-get install -y $(grep -v '^#' {HERE}/packages.txt))")
    files = sorted(p for p in out.splitlines() if p.endswith(".py") and os.path.isfile(p))
    return version, files


def heldout(key):
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "little")
    return h % 1000 < HELDOUT_PER_MILLE


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/train")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    seen = set()
    stats = {"packages": [], "train": {"files": 0, "bytes": 0}, "heldout": {"files": 0, "bytes": 0},
             "skipped": {"duplicate": 0, "too_big": 0, "long_line": 0, "not_utf8": 0, "empty": 0}}
    tmp = {s: os.path.join(args.out, s + ".jsonl.tmp") for s in ("train", "heldout")}
    outs = {s: open(p, "w", encoding="utf-8") for s, p in tmp.items()}
    for name in packages():
        version, files = package_files(name)
        kept = 0
        for path in files:
            with open(path, "rb") as f:
                raw = f.read()
            if len(raw) > MAX_BYTES:
                stats["skipped"]["too_big"] += 1
                continue
            digest = hashlib.sha256(raw).digest()
            if digest in seen:
                stats["skipped"]["duplicate"] += 1
                continue
            seen.add(digest)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                stats["skipped"]["not_utf8"] += 1
                continue
            text = text.replace("\r\n", "\n")
            if not text.strip():
                stats["skipped"]["empty"] += 1
                continue
            if max(len(l) for l in text.split("\n")) > MAX_LINE:
                stats["skipped"]["long_line"] += 1
                continue
            key = name + path
            split = "heldout" if heldout(key) else "train"
            outs[split].write(json.dumps({"path": key, "text": text}, ensure_ascii=False) + "\n")
            stats[split]["files"] += 1
            stats[split]["bytes"] += len(text.encode("utf-8"))
            kept += 1
        stats["packages"].append({"name": name, "version": version, "files": kept})
    for s, f in outs.items():
        f.close()
        os.replace(tmp[s], os.path.join(args.out, s + ".jsonl"))
    with open(os.path.join(args.out, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1)
    print(f"train: {stats['train']['files']} files, {stats['train']['bytes'] / 1e6:.1f} MB; "
          f"held out: {stats['heldout']['files']} files, {stats['heldout']['bytes'] / 1e6:.1f} MB; "
          f"skipped: {stats['skipped']}")


if __name__ == "__main__":
    main()
