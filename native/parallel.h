// fn(i) for every i in [0, n) on up to `threads` threads, the caller's among them. Items are taken
// in order from a shared counter, so uneven ones balance. fn must not throw (a worker thread
// would end the process).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace wserve {

template <typename Fn>
void parallelFor(size_t n, int threads, Fn&& fn) {
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; i++) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; w++) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace wserve
