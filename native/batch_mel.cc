#include "batch_mel.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "parallel.h"

namespace wserve {

namespace {

constexpr int kFrame = 400;
constexpr int kHop = 160;
constexpr int kBins = kFrame / 2 + 1;

struct Tables {
  float hann[kFrame];
  std::complex<float> twiddle[kFrame];  // e^(-2πik/400)
  Tables() {
    for (int i = 0; i < kFrame; i++) {
      hann[i] = 0.5f * (1.0f - std::cos(2.0 * M_PI * i / kFrame));  // periodic, as torch.hann_window
      twiddle[i] = std::polar(1.0f, static_cast<float>(-2.0 * M_PI * i / kFrame));
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

// Complex product written out: std::complex's operator* checks for infinities (a libcall).
inline std::complex<float> mul(std::complex<float> a, std::complex<float> b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

// Mixed-radix FFT of n = 400 / stride points (400 = 2⁴ · 5²): split by 2 while n is even, then
// by 5; `in` is read with `stride`, `out` holds n points, `scratch` holds the sub-transforms.
void fft(const std::complex<float>* in, int n, int stride, std::complex<float>* out, std::complex<float>* scratch) {
  const auto& tw = tables().twiddle;
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  const int radix = n % 2 == 0 ? 2 : 5;
  const int m = n / radix;
  for (int r = 0; r < radix; r++) fft(in + r * stride, m, stride * radix, scratch + r * m, scratch + n);
  for (int k = 0; k < m; k++) {
    for (int q = 0; q < radix; q++) {
      const int e = k + m * q;  // output index
      std::complex<float> sum = scratch[k];
      for (int r = 1; r < radix; r++) sum += mul(tw[(r * e % n) * stride], scratch[r * m + k]);
      out[e] = sum;
    }
  }
}

}  // namespace

void logMelWindow(const float* samples, int n, const std::vector<float>& filters, int nMels, int threads, float* out) {
  const Tables& t = tables();
  n = std::min(n, kWindowSamples);
  // Each mel filter is non-zero over a few bins only: sum over those (80 × 201 weights, ~400 non-zero).
  std::vector<int> first(nMels, kBins), last(nMels, 0);
  for (int m = 0; m < nMels; m++) {
    for (int k = 0; k < kBins; k++) {
      if (filters[static_cast<size_t>(m) * kBins + k] != 0.0f) {
        first[m] = std::min(first[m], k);
        last[m] = k + 1;
      }
    }
  }
  // Centred frames: 200 samples reflected before the start, zeros after the end.
  auto sample = [&](int i) -> float {
    i -= kFrame / 2;
    if (i < 0) i = -i;
    return i < n ? samples[i] : 0.0f;
  };
  const int framesWithAudio = std::min(kMelFrames, (n + kFrame / 2) / kHop + 1);
  threads = std::max(1, std::min(threads, framesWithAudio / 100 + 1));
  std::vector<float> peaks(threads, -10.0f);  // log10(1e-10): the value of an all-zero frame
  parallelFor(static_cast<size_t>(threads), threads, [&](size_t id) {
    std::complex<float> frame[kFrame], spectrum[kFrame], scratch[2 * kFrame];
    float power[kBins];
    for (int f = static_cast<int>(id); f < framesWithAudio; f += threads) {
      for (int i = 0; i < kFrame; i++) frame[i] = t.hann[i] * sample(f * kHop + i);
      fft(frame, kFrame, 1, spectrum, scratch);
      for (int k = 0; k < kBins; k++) power[k] = std::norm(spectrum[k]);
      for (int m = 0; m < nMels; m++) {
        const float* row = filters.data() + static_cast<size_t>(m) * kBins;
        float sum = 0;
        for (int k = first[m]; k < last[m]; k++) sum += power[k] * row[k];
        const float v = std::log10(std::max(sum, 1e-10f));
        out[m * kMelFrames + f] = v;
        peaks[id] = std::max(peaks[id], v);
      }
    }
  });
  for (int m = 0; m < nMels; m++) {
    for (int f = framesWithAudio; f < kMelFrames; f++) out[m * kMelFrames + f] = -10.0f;
  }
  const float floor = *std::max_element(peaks.begin(), peaks.end()) - 8.0f;
  for (int i = 0; i < nMels * kMelFrames; i++) out[i] = (std::max(out[i], floor) + 4.0f) / 4.0f;
}

}  // namespace wserve
