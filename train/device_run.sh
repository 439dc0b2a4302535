#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One call of a GPU machine (the device tool, when a session is lent one):
# cache latents with an autoencoder's encoder there, train a text encoder
# and DiT on them on the GPU for a fixed time (continuing a model file's,
# or from scratch), and leave the EMA weights in $OUT (a --slim file:
# float16, about 14 MiB, under the 16 MiB a file that comes back may have),
# with the logs.
#
#   device run:  bash train/device_run.sh          (timeout_s 600)
#   then here:   /usr/bin/python3 train/train_dit.py --export NEW.safetensors \
#                    --from FILES_AT/dit-ema.pt --vae models/st2v-world-v1.safetensors
#
# The settings are environment variables (defaults in brackets): MODEL, the
# model file continued [models/st2v-world-v1.safetensors]; VAE, the
# autoencoder whose latents the DiT learns, a model file or a train_vae.py
# checkpoint [$MODEL]; INIT, the model file whose text encoder and DiT go
# on, or empty for a DiT from scratch (with VAE a new autoencoder) [$MODEL];
# where VAE is another file than INIT, INIT's DiT is carried onto VAE's
# latents (train_dit.py --pairs) on PAIR_CLIPS clips cached with INIT's own
# encoder too [500]; CLIPS [4000];
# JOBS, cache processes [14]; MINUTES of training [7]; COOL, minutes of
# learning-rate decay at the end [3]; BATCH [128]; LR [4e-4]; DEVICE [cuda];
# PY, a python with torch [python3]. DEVICE=cpu runs the same steps on a
# CPU, which is how the tests check this script.
set -euo pipefail
: "${OUT:?OUT must name the folder that comes back (the device tool sets it)}"
PY=${PY:-python3}
MODEL=${MODEL:-models/st2v-world-v1.safetensors}
VAE=${VAE:-$MODEL}
INIT=${INIT-$MODEL}
DEVICE=${DEVICE:-cuda}
export ST2V_RUN_DIR=${ST2V_RUN_DIR:-/tmp/st2v-device-run} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$ST2V_RUN_DIR"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."            # the files are relative to the repository
for f in "$VAE" ${INIT:+"$INIT"}; do
    [ -f "$f" ] || { echo "device_run.sh: no file $f" >&2; exit 1; }
done
{ command -v nvidia-smi >/dev/null && nvidia-smi -L; } || true
start=$(date +%s)
"$PY" train/cache_latents.py --clips "${CLIPS:-4000}" --jobs "${JOBS:-14}" --device "$DEVICE" \
    --vae "$VAE" 2>&1 | tee "$OUT/cache.log"
pairs=()
if [ -n "$INIT" ] && [ "$VAE" != "$INIT" ]; then
    "$PY" train/cache_latents.py --clips "${PAIR_CLIPS:-500}" --jobs "${JOBS:-14}" \
        --device "$DEVICE" --vae "$INIT" --dir "$ST2V_RUN_DIR/latents_init" 2>&1 | tee -a "$OUT/cache.log"
    pairs=(--pairs "$ST2V_RUN_DIR/latents_init")
fi
echo "cache: $(( $(date +%s) - start )) s"
"$PY" train/train_dit.py --device "$DEVICE" ${INIT:+--init-from "$INIT"} "${pairs[@]}" --batch "${BATCH:-128}" \
    --lr "${LR:-4e-4}" --minutes "${MINUTES:-7}" --cooldown-minutes "${COOL:-3}" \
    --threads 4 2>&1 | tee "$OUT/train.log"
"$PY" train/train_dit.py --slim "$OUT/dit-ema.pt"
echo "all: $(( $(date +%s) - start )) s"
