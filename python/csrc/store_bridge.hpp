// torch's c10d::Store as the C interface's collStore_t callbacks, so that the ranks of a process
// group find each other through the store torch already made (no second port).
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <mutex>
#include <string>

#include "collectives.h"

namespace swift_collectives {

class StoreBridge {
 public:
  explicit StoreBridge(c10::intrusive_ptr<c10d::Store> store);

  // The callbacks, with this bridge as their context. Valid while the bridge lives.
  const collStore_t* callbacks() const { return &callbacks_; }

  // What the store said when a callback last failed ("" when none).
  std::string lastFailure() const;

 private:
  static int set(void* context, const char* key, const void* value, size_t length);
  static int get(void* context, const char* key, void** value, size_t* length, double timeoutSeconds);
  static int add(void* context, const char* key, long long delta, long long* result);
  static int wait(void* context, const char* const* keys, size_t count, double timeoutSeconds);
  static int check(void* context, const char* const* keys, size_t count, int* present);

  // Runs body, turning an exception into a callback's code (1: timed out, 2: failed).
  template <typename Body>
  int guarded(const char* call, const char* key, Body body);

  c10::intrusive_ptr<c10d::Store> store_;
  collStore_t callbacks_;
  mutable std::mutex failureLock_;
  std::string failure_;
};

} // namespace swift_collectives
