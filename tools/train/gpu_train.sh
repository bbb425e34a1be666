#!/usr/bin/env bash
# The two training stages of run_all.sh on one CUDA GPU (run by the `device` tool on a lent H100;
# see tools/train/README.md). Reads DATA (default .gpu): tokenizer.json, train_{dlm,ar}.bin.xz and
# heldout_{dlm,ar}.bin from prepare.py. Writes to OUT: both models' exported weights (f16, split
# into parts of 15 MB) with their training logs, and the console log.
#   S1_TOKENS   stage 1, the autoregressive base, alone on the GPU
#   S2_TOKENS   stage 2, both models at once from the base's weights
#   SPAN        --span-frac of the diffusion model (rows that mask whole lines)
#   STOP        seconds after which a stage stops and exports what it has (a safety net)
set -euo pipefail
DATA=${DATA:-.gpu}
OUT=${OUT:?OUT must name the output folder}
PY=${PY:-python3}
W=${WORK:-/tmp/sculpt-train}
mkdir -p "$W"
cp "$DATA/tokenizer.json" "$DATA"/heldout_*.bin "$W/"
for f in "$DATA"/train_*.bin.xz; do
  $PY -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$f" "$W/$(basename "${f%.xz}")"
done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
shape=(--d-model 320 --layers 8 --heads 5 --ff 768 --ctx 512 --batch ${BATCH:-128} --device cuda
       --export-dtype f16 --checkpoint-every 1000000 --log-every 20)
T=tools/train/train.py
$PY $T --arch llama --data "$W" --out "$W/llama-base" "${shape[@]}" --tokens "${S1_TOKENS:-2e8}" \
  --lr 2e-3 --warmup 200 --eval-every 400 --stop-after "${STOP:-1e9}" 2>&1 | tee "$OUT/stage1.log"
stage2=("${shape[@]}" --init-from "$W/llama-base/checkpoint.pt" --tokens "${S2_TOKENS:-2e8}" --lr 1e-3
        --warmup 100 --seed 2 --eval-every 200 --stop-after "${STOP:-1e9}")
$PY $T --arch llada --shift-logits --span-frac "${SPAN:-0}" --data "$W" --out "$W/llada" "${stage2[@]}" > "$OUT/llada.log" 2>&1 &
p1=$!
$PY $T --arch llama --data "$W" --out "$W/llama" "${stage2[@]}" > "$OUT/llama.log" 2>&1 &
p2=$!
wait $p1; wait $p2
for m in llada llama; do
  (cd "$W/$m" && split -b 15000000 -d weights.bin "$OUT/$m.weights.bin.part")
  tail -3 "$OUT/$m.log"
done
tar -C "$W" -cf "$OUT/meta.tar" llama-base/log.json llada/log.json llada/weights.json llama/log.json llama/weights.json
ls -la "$OUT"
