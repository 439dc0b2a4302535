#!/bin/sh
# reproduce.sh - train the default model from scratch on this machine's CPU
# and write it to models/st2v-world-v1.safetensors. Every stage stops at the
# step count of the shipped model (its provenance records them) and resumes
# from its checkpoint in $ST2V_RUN_DIR (default /var/tmp/st2v-train), so the
# script can simply be run again after an interruption.
#
#   train/reproduce.sh                      # about 4 hours on 2 free cores
#   DIT_STEPS=20000 train/reproduce.sh      # train further
#
# Durations measured here (2 cores, bfloat16 autocast): autoencoder 1.1
# steps/s; decoder fine-tune 1.6 steps/s on one core; latent cache 0.6 to
# 1.2 s a clip; DiT 0.9 steps/s (batch 16, both sizes).
#
# The shipped model's own history differs in two details that the steps
# below smooth out: its latent cache grew from 500 to 1,250 clips while the
# DiT trained (the vocabulary came from the first 500), and its DiT gained
# the pooled text path (dit.text_pool, zero-initialised) at step 4,523.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
RUN=${ST2V_RUN_DIR:-/var/tmp/st2v-train}
: "${VAE_STEPS:=2586}" "${DEC_STEPS:=6160}" "${CLIPS:=1250}" "${DIT_STEPS:=7000}"
FOREVER=1000000   # minutes: the step counts end each stage

$PY train/train_vae.py --until-step "$VAE_STEPS" --minutes $FOREVER
$PY train/train_vae.py --decoder-only --edge-weight 4 --lr 5e-4 \
    --init-from-checkpoint "$RUN/vae/checkpoint.pt" --dir "$RUN/vae_dec" \
    --until-step "$DEC_STEPS" --minutes $FOREVER
$PY train/cache_latents.py --clips "$CLIPS"
$PY train/train_dit.py --until-step "$DIT_STEPS" --minutes $FOREVER
$PY train/train_dit.py --export models/st2v-world-v1.safetensors --vae "$RUN/vae_dec/checkpoint.pt"
ln -sf st2v-world-v1.safetensors models/default.safetensors
echo "reproduce.sh: models/default.safetensors -> st2v-world-v1.safetensors"
