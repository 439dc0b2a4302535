// bench/ort.js - ONNX Runtime's side of `make bench`: the DiT exported by
// bench/reference.py, run by onnxruntime-node (CPU, float32).
//
//   node bench/ort.js ORT_DIR MODEL.onnx T Hl Wl N_TEXT THREADS REPS
//
// One JSON line per batch (1, then 2: the CFG pair), REPS timed runs after
// one warm-up, in milliseconds. Inputs as st2v-bench's: z = 0, t = 0.5,
// text features of the prompt's length. ORT_DIR holds node_modules/ with
// onnxruntime-node (npm install --ignore-scripts onnxruntime-node).
'use strict';
const path = require('path');

async function main() {
    const [ortDir, onnx, T, Hl, Wl, n, threads, reps] = process.argv.slice(2);
    const ort = require(path.resolve(ortDir, 'node_modules', 'onnxruntime-node'));
    const session = await ort.InferenceSession.create(onnx, {
        intraOpNumThreads: +threads, interOpNumThreads: 1,
        executionMode: 'sequential', graphOptimizationLevel: 'all'});
    const meta = JSON.parse(process.env.ST2V_BENCH_SHAPES || '{}');
    const cz = meta.cz || 8, pt = meta.pt || 1, dt = meta.dt || 128;
    for (const B of [1, 2]) {
        const feeds = {
            z: new ort.Tensor('float32', new Float32Array(B * cz * T * Hl * Wl),
                              [B, cz, +T, +Hl, +Wl]),
            t: new ort.Tensor('float32', new Float32Array(B * (T / pt)).fill(0.5),
                              [B, T / pt]),
            text: new ort.Tensor('float32', Float32Array.from(
                { length: B * n * dt }, (_, i) => Math.sin(i)), [B, +n, dt]),
        };
        const ms = [];
        for (let r = 0; r <= +reps; r++) {
            const t0 = process.hrtime.bigint();
            await session.run(feeds);
            const t1 = process.hrtime.bigint();
            if (r)
                ms.push(Number(t1 - t0) / 1e6);
        }
        console.log(JSON.stringify({engine: 'onnxruntime', part: 'dit', batch: B,
                                    threads: +threads, ms: ms,
                                    version: ort.env.versions.common}));
    }
}

main().catch((e) => { console.error('ort.js: ' + e.message); process.exit(1); });
