#!/usr/bin/env bash
# Rebuilds the embedded models from Debian packages alone: corpus, tokenizer, both models, export to
# models/, the export check and the training curves. Every stage is resumable: run it again after
# an interruption and training continues from its last checkpoint (every 50 steps).
# Work files go to build/train (about 250 MB). THREADS=n limits PyTorch's threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3   # Debian's interpreter: python3-torch, python3-numpy and python3-regex live there
DATA=build/train
pkgs=$(grep -v '^#' tools/train/packages.txt | cut -d' ' -f1)
missing=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null | awk '$1 != "ii" {print $2}')
if [ -n "$missing" ] || ! dpkg-query -W python3-torch >/dev/null 2>&1; then
  echo "run_all: installing the corpus and training packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs python3-torch python3-regex
fi
[ -x build/sculpt-export ] || tools/setup.sh
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")

[ -f $DATA/train.jsonl ] || $PY tools/train/corpus.py --out $DATA
[ -f $DATA/tokenizer.json ] || $PY tools/train/train_tokenizer.py --data $DATA
[ -f $DATA/train_ar.bin ] || $PY tools/train/prepare.py --data $DATA
# Stage 1: the autoregressive base (7.0 M tokens). Stage 2, the same for both (4.6 M tokens from
# the base's weights, fresh schedule, other batches): the diffusion model adapts it to masked
# diffusion with shifted logits (Dream's recipe); the twin continues autoregressive training.
# Both end with the same shape, data and number of training tokens (11.6 M).
$PY tools/train/train.py --arch llama --data $DATA --out $DATA/llama-base "${threads[@]}"
stage2=(--init-from $DATA/llama-base/checkpoint.pt --tokens 4.6e6 --lr 1e-3 --warmup 50 --seed 2
        --eval-every 50 "${threads[@]}")
$PY tools/train/train.py --arch llada --shift-logits --data $DATA "${stage2[@]}"
$PY tools/train/train.py --arch llama --data $DATA "${stage2[@]}"
mkdir -p models
build/sculpt-export --tokenizer $DATA/tokenizer.json --weights $DATA/llada --type f16 \
  --out models/sculpt-code-diffusion.gguf
build/sculpt-export --tokenizer $DATA/tokenizer.json --weights $DATA/llama --type f16 \
  --out models/sculpt-code-ar.gguf
$PY tools/train/check_export.py --arch llada --gguf models/sculpt-code-diffusion.gguf --data $DATA
$PY tools/train/check_export.py --arch llama --gguf models/sculpt-code-ar.gguf --data $DATA
$PY tools/train/plot.py --data $DATA --out models/training_curves.svg
cp $DATA/llada/log.json models/train_log_diffusion.json
cp $DATA/llama/log.json models/train_log_ar.json
cp $DATA/corpus.json models/corpus.json
echo "run_all: models/ updated; evaluate with tools/eval/run_eval.py" >&2
