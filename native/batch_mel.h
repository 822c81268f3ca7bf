// Log-mel spectrogram of one 30 s window, as whisper computes it (400-sample Hann frames every
// 160 samples, power spectrum through the model's own filter bank, log10, clamped to 8 below the
// window's peak, scaled): the encoder's input for the batched engine.
#pragma once
#include <vector>

namespace wserve {

constexpr int kSampleRate = 16000;
constexpr int kWindowSamples = 30 * kSampleRate;
constexpr int kMelFrames = 3000;  // 2 × the encoder's 1500 positions

// out: nMels × kMelFrames (frame index fastest), the layout of the encoder's input tensor.
// Samples past `n` (up to 30 s) are zeros; more than 30 s is an error of the caller. Frames are
// shared among `threads` threads.
void logMelWindow(const float* samples, int n, const std::vector<float>& filters, int nMels, int threads, float* out);

}  // namespace wserve
