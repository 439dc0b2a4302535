#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The background campaign of issue 19: the chosen recipe, resumable across
# sittings. Run it at the start of every sitting (niced, in the
# background); each stage resumes from its checkpoint or is skipped when
# done, so a killed sitting loses at most the minutes since the last
# checkpoint (5 minutes).
#
#   nohup nice -n 5 train/campaign.sh > "$RUN_DIR/campaign.log" 2>&1 &
#
# Stages (RUN_DIR = $ST2V_RUN_DIR, default /var/tmp/st2v-train):
# 1. vae_v3: autoencoder v3 from scratch (docs/training.md, "Autoencoder
#    v3"): to step VAE_STEPS, the learning rate falling to zero over the
#    last VAE_COOL steps (a schedule in steps, so that it spans sittings).
#    Done when vae_v3/done exists.
# 2. latents_v3: CLIPS clips cached with it; latents: PAIR_CLIPS clips of the
#    same scene seeds with the shipped model's encoder (for the carry).
# 3. dit_v3: the shipped text encoder and DiT carried onto v3's latents
#    (train_dit.py --init-from --pairs) and trained on, DIT_MINUTES a
#    sitting, checkpointing every 5 minutes (SINGLE_FRAMES: the fraction of
#    single-latent-frame batches, 0; its A/B is in docs/training.md).
#    DIT_COOL: minutes at the end of the sitting over which the learning
#    rate falls linearly to zero (default 0: flat; the last sitting of a
#    campaign, before its model is judged, sets it).
# Everything runs in the runtime that recipe/cpu_runtime pick for this CPU
# (train/step_timing.py measures it).
# The whole script is one block, read before it runs: bash reads a script
# as it goes, and an edit of this file during a sitting's run made it
# execute half a line.
{
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
RUN=${ST2V_RUN_DIR:-/var/tmp/st2v-train}
MODEL=${MODEL:-models/st2v-world-v1.safetensors}
export PYTHONUNBUFFERED=1 ST2V_RUN_DIR=$RUN
mkdir -p "$RUN"
# With the kernel's autogroup on, `nice` orders processes only within one
# terminal session, so a niced build in another session still took half the
# cores from this run; off, the niced foreground yields to it.
if [ -w /proc/sys/kernel/sched_autogroup_enabled ]; then
    echo 0 > /proc/sys/kernel/sched_autogroup_enabled
fi
echo "campaign: start $(date -u +%FT%TZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

if [ ! -f "$RUN/vae_v3/done" ]; then
    "$PY" train/train_vae.py --arch v3 --edge-weight 4 --dir "$RUN/vae_v3" \
        --until-step "${VAE_STEPS:-2800}" --cooldown "${VAE_COOL:-800}" --minutes 600
    step=$("$PY" -c "import torch, sys; print(torch.load(sys.argv[1])['step'])" \
        "$RUN/vae_v3/checkpoint.pt")
    [ "$step" -ge "${VAE_STEPS:-2800}" ] || { echo "campaign: vae_v3 at step $step"; exit 1; }
    touch "$RUN/vae_v3/done"
fi
"$PY" train/cache_latents.py --clips "${PAIR_CLIPS:-500}" --jobs 2 --vae "$MODEL" \
    --dir "$RUN/latents"
"$PY" train/cache_latents.py --clips "${CLIPS:-4000}" --jobs 2 \
    --vae "$RUN/vae_v3/checkpoint.pt" --dir "$RUN/latents_v3"
"$PY" train/train_dit.py --init-from "$MODEL" --cache "$RUN/latents_v3" \
    --pairs "$RUN/latents" --dir "$RUN/dit_v3" --lr "${LR:-3e-4}" \
    --single-frames "${SINGLE_FRAMES:-0}" --minutes "${DIT_MINUTES:-600}" \
    --cooldown-minutes "${DIT_COOL:-0}"
echo "campaign: sitting done $(date -u +%FT%TZ)"
exit
}
