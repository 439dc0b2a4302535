/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_safetensors.c - arbitrary bytes as a safetensors file in memory:
 * st_open_memory (header length, JSON header, dtypes, shapes, byte
 * ranges, overlaps, __metadata__), every tensor read back with
 * st_to_f32, then the same bytes as a world model file
 * (st2v_world_load_memory: config JSON, tensor table, shapes) and as a
 * ComfyUI text encoder carrying a spiece.model (spm_load_safetensors).
 */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"
#include "st2v/model.h"
#include "wan/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    st_file f;
    if (st_open_memory(&f, data, size, err, sizeof(err)) == 0) {
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            if (t->numel > (1u << 20))
                continue; /* keep each run fast */
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof(float));
            if (dst)
                st_to_f32(t, dst);
            free(dst);
            (void)st_find(&f, t->name);
        }
        (void)st_metadata(&f, "format");
        st_close(&f);
    }
    st2v_world *w = NULL;
    if (st2v_world_load_memory(&w, data, size, err, sizeof(err)) == 0)
        st2v_world_free(w);
    spm *m = NULL;
    if (spm_load_safetensors(&m, data, size, err, sizeof(err)) == 0)
        spm_free(m);
    return 0;
}
