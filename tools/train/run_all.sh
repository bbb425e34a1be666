#!/usr/bin/env bash
# Rebuilds the embedded models from Debian packages alone: corpus, tokenizer, both models, export to
# models/, the export check and the training curves. Work files go to build/train (about 1 GB).
# Training needs a CUDA GPU for the shipped budget (DEVICE=cpu works, slowly); with a GPU on
# another machine, run tools/train/train_models.sh there (tools/train/README.md).
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
[ -f $DATA/train.jsonl ] || $PY tools/train/corpus.py --out $DATA
[ -f $DATA/tokenizer.json ] || $PY tools/train/train_tokenizer.py --data $DATA
[ -f $DATA/train_ar.bin ] || $PY tools/train/prepare.py --data $DATA
# Both training stages (train_models.sh): an autoregressive base (137 M tokens), then 190 M tokens
# each from its weights: the diffusion model adapts it to masked diffusion with shifted logits
# (Dream's recipe), the twin continues autoregressive training. The shipped models were trained
# this way on one H100 (about 9 minutes); DEVICE=cpu runs the same on CPU (days on 2 cores).
DEVICE=${DEVICE:-cuda} DATA=$DATA WORK=$DATA OUT=$DATA/logs PY=$PY tools/train/train_models.sh
mkdir -p models
build/sculpt-export --tokenizer $DATA/tokenizer.json --weights $DATA/llada --type f16 \
  --out models/sculpt-code-diffusion.gguf
build/sculpt-export --tokenizer $DATA/tokenizer.json --weights $DATA/llama --type f16 \
  --out models/sculpt-code-ar.gguf
$PY tools/train/check_export.py --arch llada --gguf models/sculpt-code-diffusion.gguf --data $DATA --weights $DATA/llada
$PY tools/train/check_export.py --arch llama --gguf models/sculpt-code-ar.gguf --data $DATA --weights $DATA/llama
$PY tools/train/plot.py --data $DATA --out models/training_curves.svg
cp $DATA/llada/log.json models/train_log_diffusion.json
cp $DATA/llama/log.json models/train_log_ar.json
cp $DATA/llama-base/log.json models/train_log_ar_base.json
cp $DATA/corpus.json models/corpus.json
echo "run_all: models/ updated; evaluate with tools/eval/run_eval.py" >&2
