// Calls every function and method the addon exports with wrong arguments, and the async ones with
// inputs their worker threads refuse: each must come back as a JS error with a code (a throw or a
// rejection), never an abort. Run as a child by test/native-errors.test.ts, which reads its exit
// status (an abort is SIGABRT there, not a failed assertion) and the JSON it prints.
//   node every-entry-point.mjs <multilingual ggml model> <silero ggml model>
import { binding } from '../../dist/native/binding.js';

const [modelPath, vadPath] = process.argv.slice(2);
const b = binding();
const results = [];
async function expectError(name, call) {
  try {
    await call();
    results.push({ name, threw: false });
  } catch (err) {
    results.push({ name, threw: true, code: err?.code ?? null, message: String(err?.message ?? err) });
  }
}

const pcm = new Float32Array(16000);
const load = { useGpu: false, gpuDevice: 0, flashAttn: false, repackWeights: true, q8Matrices: false, int8Products: false, q8CrossCache: false, bf16CrossCache: false, bf16Attention: false, amxEncoder: false, poolSize: 1 };
await expectError('loadModel()', () => b.loadModel());
await expectError('loadModel(missing)', () => b.loadModel('/nonexistent/model.bin', load));
await expectError('loadModel(not a model)', () => b.loadModel(process.argv[1], load));
await expectError('loadModel(bad options)', () => b.loadModel(modelPath, { poolSize: 'many' }));
await expectError('new VadModel()', () => new b.VadModel());
await expectError('new VadModel(missing)', () => new b.VadModel('/nonexistent/vad.bin'));
await expectError('loadBackends(42)', () => b.loadBackends(42));
await expectError('loadBackend(missing)', () => b.loadBackend('/nonexistent/libggml-cuda.so'));
await expectError('quantize()', () => b.quantize());
await expectError('quantize(bad type)', () => b.quantize('q9_9', new Float32Array(32), 32));
await expectError('quantize(bad rows)', () => b.quantize('q8_0', new Float32Array(33), 33));
await expectError('setLogger(42)', () => b.setLogger(42, 0));

const model = await b.loadModel(modelPath, load);
const params = (over = {}) => ({
  threads: 1, maxStates: 1, sequential: false, conditionOnPreviousText: false, language: 'en', languagePerWindow: false, translate: false,
  initialPrompt: '', temperature: 0, temperatureIncrement: 0, entropyThreshold: 2.4, logprobThreshold: -1, noSpeechThreshold: 0.6,
  beamSize: 1, bestOf: 1, lengthPenalty: -1, patience: -1, wordTimestamps: false, suppressBlank: true, suppressNonSpeech: false,
  noTimestamps: false, maxTokens: 4, suppressRegex: '', ...over,
});
const batch = (over = {}) => ({
  threads: 1, slots: 1, encoderWindows: 1, language: 'en', translate: false, initialPrompt: '', suppressBlank: true,
  suppressNonSpeech: false, suppressRegex: '', withoutTimestamps: true, maxTokensPerSegment: 4, reuseEncodings: true, recording: 0, profile: false, ...over,
});
const windows = [{ start: 0, end: pcm.length }];
const requests = [{ start: 0, end: pcm.length, temperature: 0, seed: 1, endNotBefore: 0 }];
await expectError('transcribeWindows()', () => model.transcribeWindows());
await expectError('transcribeWindows(Int16Array)', () => model.transcribeWindows(new Int16Array(4), windows, params()));
await expectError('transcribeWindows(window outside)', () => model.transcribeWindows(pcm, [{ start: 0, end: 1e9 }], params()));
await expectError('transcribeWindows(missing field)', () => model.transcribeWindows(pcm, windows, { threads: 1 }));
await expectError('transcribeWindows(language xx)', () => model.transcribeWindows(pcm, windows, params({ language: 'xx' })));
await expectError('transcribeWindows(bad regex)', () => model.transcribeWindows(pcm, windows, params({ suppressRegex: '([' })));
await expectError('transcribeWindows(beam 99)', () => model.transcribeWindows(pcm, windows, params({ beamSize: 99 })));
await expectError('decodeBatch()', () => model.decodeBatch());
await expectError('decodeBatch(language xx)', () => model.decodeBatch(pcm, requests, batch({ language: 'xx' })));
await expectError('decodeBatch(language yue, 99 languages)', () => model.decodeBatch(pcm, requests, batch({ language: 'yue' })));
await expectError('decodeBatch(request outside)', () => model.decodeBatch(pcm, [{ start: 0, end: 1e9, temperature: 0, seed: 1 }], batch()));
await expectError('decodeBatch(bad callback)', () => model.decodeBatch(pcm, requests, batch(), 42));

const vad = new b.VadModel(vadPath);
await expectError('vad.detect()', () => vad.detect());
await expectError('vad.detect(bad params)', () => vad.detect(pcm, { threshold: 'high' }));
vad.dispose();
await expectError('vad.detect(disposed)', () => vad.detect(pcm));

model.dispose();
for (const method of ['info', 'vocabulary', 'specialTokens', 'loadEngine']) await expectError(`${method}(disposed)`, () => model[method]());
await expectError('transcribeWindows(disposed)', () => model.transcribeWindows(pcm, windows, params()));
await expectError('decodeBatch(disposed)', () => model.decodeBatch(pcm, requests, batch()));

console.log(JSON.stringify(results));
