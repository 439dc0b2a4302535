#!/bin/sh
# reproduce.sh - train the default model from scratch on this machine's CPU
# and write it to models/st2v-world-v1.safetensors. Every stage stops at the
# step count of the shipped model (its provenance records them) and resumes
# from its checkpoint in $ST2V_RUN_DIR (default /var/tmp/st2v-train), so the
# script can simply be run again after an interruption.
#
#   train/reproduce.sh                      # about 5 hours on 2 free cores
#   DIT_STEPS=20000 train/reproduce.sh      # train further
#
# Durations measured here (2 cores, bfloat16 autocast) on a quiet day:
# autoencoder 1.1 steps/s; decoder fine-tune 1.6 steps/s on one core;
# latent cache 0.7 s a clip; DiT 1.45 steps/s alone (batch 16, both sizes),
# 0.4 to 1 beside other work. On a slow day the same machine ran at about
# half that: the cache 1.16 s a clip in each of two jobs, the DiT 0.75 steps/s.
#
# The shipped model's own history differs in details that the steps below
# smooth out: its DiT trained its first 6,941 steps on a cache that grew
# from 500 to 1,250 clips (the vocabulary came from the first 500), without
# the motion-direction head, and gained the pooled text path
# (dit.text_pool, zero-initialised) at step 4,523; it then went on from the
# exported model (--init-from: a fresh optimiser and warm-up) while the
# cache was rebuilt with the model's encoder and grew to 2,500 clips, and
# ended with the cooldown.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
RUN=${ST2V_RUN_DIR:-/var/tmp/st2v-train}
: "${VAE_STEPS:=2586}" "${DEC_STEPS:=6160}" "${CLIPS:=2500}" "${DIT_STEPS:=14700}" \
  "${COOLDOWN:=1500}"
FOREVER=1000000   # minutes: the step counts end each stage

$PY train/train_vae.py --until-step "$VAE_STEPS" --minutes $FOREVER
$PY train/train_vae.py --decoder-only --edge-weight 4 --lr 5e-4 \
    --init-from-checkpoint "$RUN/vae/checkpoint.pt" --dir "$RUN/vae_dec" \
    --until-step "$DEC_STEPS" --minutes $FOREVER
$PY train/cache_latents.py --clips "$CLIPS" --jobs 2
$PY train/train_dit.py --until-step "$DIT_STEPS" --cooldown "$COOLDOWN" --minutes $FOREVER
$PY train/train_dit.py --export models/st2v-world-v1.safetensors --vae "$RUN/vae_dec/checkpoint.pt"
ln -sf st2v-world-v1.safetensors models/default.safetensors
echo "reproduce.sh: models/default.safetensors -> st2v-world-v1.safetensors"
