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

// Four frames side by side, one a lane: the transform's indexing, twiddles and complex shuffles
// are paid once for the four (a frame at a time: 40 ms a window on a Zen 3 core, now 15). A
// 16-byte GCC vector, what every target's baseline holds in one register (8 lanes on SSE2 ran
// slower than one frame at a time).
using Lanes = float __attribute__((vector_size(16)));
constexpr int kLaneCount = 4;
struct Complex4 {
  Lanes re, im;
};

inline Complex4 operator+(Complex4 a, Complex4 b) { return {a.re + b.re, a.im + b.im}; }
inline Complex4 times(std::complex<float> w, Complex4 a) { return {w.real() * a.re - w.imag() * a.im, w.real() * a.im + w.imag() * a.re}; }

// Mixed-radix FFT of four frames, n = 400 / stride points each (400 = 2⁴ · 5²): split by 2 while
// n is even, then by 5; `in` is read with `stride`, `out` holds n points, `scratch` holds the
// sub-transforms.
void fft(const Complex4* in, int n, int stride, Complex4* out, Complex4* scratch) {
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
      Complex4 sum = scratch[k];
      for (int r = 1; r < radix; r++) sum = sum + times(tw[(r * e % n) * stride], scratch[r * m + k]);
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
  const int groups = (framesWithAudio + kLaneCount - 1) / kLaneCount;
  // A thread a 100 frames (1 s of audio) at most: below that, starting one costs more than it saves.
  constexpr int kFramesPerThread = 100;
  threads = std::max(1, std::min(threads, groups / (kFramesPerThread / kLaneCount) + 1));
  std::vector<float> peaks(threads, -10.0f);  // log10(1e-10): the value of an all-zero frame
  parallelFor(static_cast<size_t>(threads), threads, [&](size_t id) {
    Complex4 frame[kFrame], spectrum[kFrame], scratch[2 * kFrame];
    Lanes power[kBins];
    for (int g = static_cast<int>(id); g < groups; g += threads) {
      const int f0 = g * kLaneCount, count = std::min(kLaneCount, framesWithAudio - f0);
      for (int i = 0; i < kFrame; i++) {
        for (int l = 0; l < kLaneCount; l++) frame[i].re[l] = t.hann[i] * sample((f0 + l) * kHop + i);
        frame[i].im = Lanes{};
      }
      fft(frame, kFrame, 1, spectrum, scratch);
      for (int k = 0; k < kBins; k++) power[k] = spectrum[k].re * spectrum[k].re + spectrum[k].im * spectrum[k].im;
      for (int m = 0; m < nMels; m++) {
        const float* row = filters.data() + static_cast<size_t>(m) * kBins;
        Lanes sum{};
        for (int k = first[m]; k < last[m]; k++) sum += power[k] * row[k];
        for (int l = 0; l < count; l++) {
          const float v = std::log10(std::max(sum[l], 1e-10f));
          out[m * kMelFrames + f0 + l] = v;
          peaks[id] = std::max(peaks[id], v);
        }
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
