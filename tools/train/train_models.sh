#!/usr/bin/env bash
# The two training stages of the embedded models (tools/train/README.md): run by run_all.sh, and
# by the `device` tool on a lent GPU machine, where the data travels compressed.
# DATA (default .gpu) holds tokenizer.json, heldout_{dlm,ar}.bin and train_{dlm,ar}.bin (or .bin.xz)
# from prepare.py. Work files go to WORK (default: a new temporary folder; may be DATA itself). Writes to
# OUT: both models' exported weights (f16; on a GPU machine also split into 15 MB parts, so that
# they come back) with their training logs, and the console logs.
#   DEVICE      cuda (default) or cpu
#   S1_TOKENS   stage 1, the autoregressive base, alone
#   S2_TOKENS   stage 2, both models at once from the base's weights
#   SPAN        --span-frac of the diffusion model (rows that mask whole lines)
#   STOP        seconds after which a stage stops and exports what it has (a safety net)
set -euo pipefail
DATA=${DATA:-.gpu}
OUT=${OUT:?OUT must name the output folder}
PY=${PY:-python3}
W=${WORK:-$(mktemp -d)}
mkdir -p "$W" "$OUT"
if [ "$(cd "$W" && pwd)" != "$(cd "$DATA" && pwd)" ]; then
  cp "$DATA/tokenizer.json" "$DATA"/heldout_*.bin "$W/"
  for kind in dlm ar; do
    if [ -f "$DATA/train_$kind.bin" ]; then
      cp "$DATA/train_$kind.bin" "$W/"
    else
      $PY -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
        "$DATA/train_$kind.bin.xz" "$W/train_$kind.bin"
    fi
  done
fi
DEVICE=${DEVICE:-cuda}
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
shape=(--d-model 320 --layers 8 --heads 5 --ff 768 --ctx 512 --batch ${BATCH:-256} --device "$DEVICE"
       --export-dtype f16 --checkpoint-every 1000000 --log-every 20)
T=tools/train/train.py
$PY $T --arch llama --data "$W" --out "$W/llama-base" "${shape[@]}" --tokens "${S1_TOKENS:-1.37e8}" \
  --lr 2e-3 --warmup 200 --eval-every 400 --stop-after "${STOP:-1e9}" 2>&1 | tee "$OUT/stage1.log"
stage2=("${shape[@]}" --init-from "$W/llama-base/checkpoint.pt" --tokens "${S2_TOKENS:-1.9e8}" --lr 1e-3
        --warmup 100 --seed 2 --eval-every 200 --stop-after "${STOP:-1e9}")
$PY $T --arch llada --shift-logits --span-frac "${SPAN:-0}" --data "$W" --out "$W/llada" "${stage2[@]}" > "$OUT/llada.log" 2>&1 &
p1=$!
$PY $T --arch llama --data "$W" --out "$W/llama" "${stage2[@]}" > "$OUT/llama.log" 2>&1 &
p2=$!
wait $p1; wait $p2
for m in llada llama; do
  tail -3 "$OUT/$m.log"
done
if [ "$DEVICE" = cuda ] && [ "$(cd "$W" && pwd)" != "$(cd "$DATA" && pwd)" ]; then
  for m in llada llama; do (cd "$W/$m" && split -b 15000000 -d weights.bin "$OUT/$m.weights.bin.part"); done
  tar -C "$W" -cf "$OUT/meta.tar" llama-base/log.json llada/log.json llada/weights.json llama/log.json llama/weights.json
  ls -la "$OUT"
fi
