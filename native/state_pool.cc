#include "state_pool.h"

#include <algorithm>
#include <chrono>

#include "whisper.h"

namespace wserve {

StatePool::StatePool(whisper_context* ctx, int capacity) : ctx_(ctx), capacity_(std::max(1, capacity)) {}

StatePool::~StatePool() {
  close();
  for (whisper_state* s : all_) whisper_free_state(s);
}

int StatePool::created() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(all_.size());
}

whisper_state* StatePool::acquire(const std::function<bool()>& cancelled, bool* allocFailed) {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t ticket = nextTicket_++;
  waiting_.push_back(ticket);
  auto leaveQueue = [&]() {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), ticket));
    cv_.notify_all();
  };
  for (;;) {
    if (closed_ || cancelled()) {
      leaveQueue();
      return nullptr;
    }
    const bool myTurn = waiting_.front() == ticket;
    if (myTurn && !idle_.empty()) {
      whisper_state* s = idle_.back();
      idle_.pop_back();
      leaveQueue();
      return s;
    }
    if (myTurn && static_cast<int>(all_.size()) + creating_ < capacity_) {
      creating_++;
      leaveQueue();
      lock.unlock();  // allocating a state takes a while (and GPU memory): not under the lock
      // Guarded like every whisper.cpp call on a worker thread: an exception must not end the process.
      whisper_state* s = nullptr;
      try {
        s = whisper_init_state(ctx_);
      } catch (...) {
        s = nullptr;  // reported as an allocation failure (OUT_OF_MEMORY), as a nullptr is
      }
      lock.lock();
      creating_--;
      if (s == nullptr) {
        if (allocFailed) *allocFailed = true;
        cv_.notify_all();
        return nullptr;
      }
      all_.push_back(s);
      return s;
    }
    // Poll `cancelled` now and then: an abort flag set from JS does not notify us.
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void StatePool::release(whisper_state* state) {
  if (state == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(state);
  cv_.notify_all();
}

void StatePool::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace wserve
