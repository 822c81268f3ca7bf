// One cold process: load (cold start measured from process start), transcribe ~1.5 h, report.
import { readPlainWav } from '../../dist/audio/decode.js';
import { Whisper } from '../../dist/whisper.js';
import { createLogger } from '../../dist/log.js';
import { readConfig } from '../../dist/config.js';

const [model, wav, tokens] = process.argv.slice(2);
const jfk = readPlainWav(wav);
const gap = new Float32Array(2 * 16000);
const minutes = Number(process.env.BENCH_MINUTES ?? 90); // smaller for a smoke run
const times = Math.ceil((minutes * 60 * 16000) / (jfk.length + gap.length));
const pcm = new Float32Array(times * (jfk.length + gap.length));
for (let i = 0; i < times; i++) pcm.set(jfk, i * (jfk.length + gap.length));

// BENCH_FLASH_ATTN=0: the softmax(QKᵀ)V graphs instead of ggml's fused attention.
// The load line, the engine's timings and warnings (not whisper.cpp's own debug lines).
const logger = createLogger({ level: 'debug', format: 'text', write: (line) => /model loaded|batched engine|WARN|ERROR/.test(line) && process.stderr.write(`${line}\n`) });
// The core reads no environment: MODEL_BATCH_SIZE, ENCODER_BATCH_SIZE … reach it as a shell passes them.
const whisper = await Whisper.load(model, { config: readConfig(), gpu: process.env.BENCH_GPU === 'off' ? false : true, flashAttn: process.env.BENCH_FLASH_ATTN !== '0', logger });
const ready = performance.now(); // ms since process start
let firstResult;
const t0 = performance.now();
const t = await whisper.transcribe(pcm, {
  language: 'en',
  suppressRegex: '^\\[_EOT_\\]$',
  // As the pipeline (no timestamps): one encoder pass per 30 s window, where timestamp tokens
  // would let whisper.cpp seek back and re-encode. whisper.cpp samples maxTokens + 1 tokens.
  withoutTimestamps: true,
  maxTokensPerSegment: Number(tokens) - 1,
  temperatureIncrement: 0, // no fallback re-decodes: the same work per window as the HF run
  onProgress: (p) => {
    // one window's worth of audio done: the first result a caller could stream
    if (firstResult === undefined && p.fraction >= 1 / Math.ceil(pcm.length / 16000 / 29)) firstResult = performance.now() - t0;
  },
});
const wall = (performance.now() - t0) / 1000;
console.log(JSON.stringify({
  audio_seconds: pcm.length / 16000,
  windows: t.windows,
  cold_start_seconds: ready / 1000,
  wall_seconds: wall,
  realtime_factor: pcm.length / 16000 / wall,
  time_to_first_result_seconds: firstResult === undefined ? null : firstResult / 1000,
  device: whisper.device.reason,
  states: whisper.batch.batchSize,
}));
whisper.dispose();
