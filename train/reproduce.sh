#!/bin/sh
# reproduce.sh - train the shipped default model from scratch on this
# machine's CPU and write it to models/. Each stage resumes from its
# checkpoint in $ST2V_RUN_DIR (default /var/tmp/st2v-train), so the script
# can be run again after an interruption. Durations are wall-clock minutes
# on 2 cores; the shipped model's provenance records the steps it had.
#
#   VAE_MINUTES=40 CLIPS=1000 DIT_MINUTES=60 train/reproduce.sh
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
: "${VAE_MINUTES:=40}" "${CLIPS:=1000}" "${DIT_MINUTES:=60}"

$PY train/train_vae.py --minutes "$VAE_MINUTES"
$PY train/train_vae.py --eval-only
$PY train/cache_latents.py --clips "$CLIPS"
$PY train/train_dit.py --minutes "$DIT_MINUTES"
$PY train/train_dit.py --export models/st2v-world-v1.safetensors
ln -sf st2v-world-v1.safetensors models/default.safetensors
echo "reproduce.sh: models/default.safetensors -> st2v-world-v1.safetensors"
