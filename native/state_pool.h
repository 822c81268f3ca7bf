// A bounded pool of whisper_states over one whisper_context. Each state owns its own compute
// buffers (and, on CUDA, its own backend stream), so states run concurrently on separate
// threads. Waiters are served first come, first served so that concurrent jobs share fairly.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

struct whisper_context;
struct whisper_state;

namespace wserve {

class StatePool {
 public:
  StatePool(whisper_context* ctx, int capacity);
  ~StatePool();
  StatePool(const StatePool&) = delete;
  StatePool& operator=(const StatePool&) = delete;

  // Blocks until a state is free (creating one while under capacity). Returns nullptr when
  // `cancelled()` turns true, the pool is closed, or a new state could not be allocated
  // (then *allocFailed is set).
  whisper_state* acquire(const std::function<bool()>& cancelled, bool* allocFailed);
  void release(whisper_state* state);
  // Wakes every waiter with nullptr; later acquires fail at once.
  void close();

  int capacity() const { return capacity_; }
  int created();

 private:
  whisper_context* ctx_;
  const int capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<whisper_state*> idle_;
  std::vector<whisper_state*> all_;
  std::deque<uint64_t> waiting_;
  uint64_t nextTicket_ = 0;
  int creating_ = 0;
  bool closed_ = false;
};

}  // namespace wserve
