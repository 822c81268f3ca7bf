/**
 * Whisper's mel filter bank: librosa.filters.mel(sr=16000, n_fft=400, n_mels) with the
 * Slaney mel scale and Slaney area normalisation, which is what OpenAI's mel_filters.npz holds.
 */
import type { MelFilters } from './ggml-format.js';

const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOG_STEP = Math.log(6.4) / 27;

function hzToMel(f: number): number {
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOG_STEP : f / F_SP;
}

function melToHz(m: number): number {
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

export function melFilterBank(nMels: number, sampleRate = 16000, nFft = 400): MelFilters {
  const nFreqs = 1 + Math.floor(nFft / 2);
  const fftFreqs = Array.from({ length: nFreqs }, (_, i) => (i * sampleRate) / nFft);
  const melMax = hzToMel(sampleRate / 2);
  const melPts = Array.from({ length: nMels + 2 }, (_, i) => melToHz((i * melMax) / (nMels + 1)));
  const data = new Float32Array(nMels * nFreqs);
  for (let m = 0; m < nMels; m++) {
    const lo = melPts[m]!;
    const mid = melPts[m + 1]!;
    const hi = melPts[m + 2]!;
    const enorm = 2 / (hi - lo);
    for (let k = 0; k < nFreqs; k++) {
      const f = fftFreqs[k]!;
      const lower = (f - lo) / (mid - lo);
      const upper = (hi - f) / (hi - mid);
      data[m * nFreqs + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return { nMel: nMels, nFft: nFreqs, data };
}
