// whisper-serve's addon once on a WAV (read without ffmpeg, as whisper-cli reads it), with the
// library's defaults but for the batch size. Prints one JSON line.
import { readPlainWav } from '../dist/audio/decode.js';
import { Whisper } from '../dist/index.js';

const [model, wav, batchSize, threads, mode] = process.argv.slice(2);
const t0 = performance.now();
const whisper = await Whisper.load(model, { batchSize: Number(batchSize), threads: Number(threads), gpu: false });
const t1 = performance.now();
// 'conditioned': whisper.cpp's own decoder, seeking through the audio with the previous text as
// prompt; 'no-timestamps': text tokens only, one segment per window (faster-whisper batched's way);
// 'no-fallback': temperature 0 alone (`--temperature 0`), what the fallback costs beside it.
const t = await whisper.transcribe(readPlainWav(wav), {
  language: 'en',
  ...(mode === 'conditioned' && { conditionOnPreviousText: true }),
  ...(mode === 'no-timestamps' && { withoutTimestamps: true }),
  ...(mode === 'no-fallback' && { temperatureIncrement: 0 }),
});
const t2 = performance.now();
whisper.dispose();
console.log(JSON.stringify({ text: t.text, load_seconds: (t1 - t0) / 1000, transcribe_seconds: (t2 - t1) / 1000, windows: t.windows }));
