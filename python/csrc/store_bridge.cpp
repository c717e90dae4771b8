#include "store_bridge.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace swift_collectives {

namespace {

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

std::vector<std::string> keyList(const char* const* keys, size_t count) {
  return std::vector<std::string>(keys, keys + count);
}

} // namespace

StoreBridge::StoreBridge(c10::intrusive_ptr<c10d::Store> store) : store_(std::move(store)) {
  callbacks_.context = this;
  callbacks_.set = &StoreBridge::set;
  callbacks_.get = &StoreBridge::get;
  callbacks_.add = &StoreBridge::add;
  callbacks_.wait = &StoreBridge::wait;
  callbacks_.check = &StoreBridge::check;
}

std::string StoreBridge::lastFailure() const {
  std::lock_guard<std::mutex> guard(failureLock_);
  return failure_;
}

template <typename Body>
int StoreBridge::guarded(const char* call, const char* key, Body body) {
  try {
    body();
    return 0;
  } catch (const c10::DistStoreError& error) {
    // torch's stores throw DistStoreError when a wait runs out of time.
    std::lock_guard<std::mutex> guard(failureLock_);
    failure_ = std::string(call) + " of \"" + key + "\": " + error.what_without_backtrace();
    return 1;
  } catch (const std::exception& error) {
    std::lock_guard<std::mutex> guard(failureLock_);
    failure_ = std::string(call) + " of \"" + key + "\": " + error.what();
    return 2;
  } catch (...) {
    std::lock_guard<std::mutex> guard(failureLock_);
    failure_ = std::string(call) + " of \"" + key + "\": an exception that is not a std::exception";
    return 2;
  }
}

int StoreBridge::set(void* context, const char* key, const void* value, size_t length) {
  auto* self = static_cast<StoreBridge*>(context);
  return self->guarded("set", key, [&] {
    const auto* bytes = static_cast<const uint8_t*>(value);
    self->store_->set(key, std::vector<uint8_t>(bytes, bytes + length));
  });
}

int StoreBridge::get(void* context, const char* key, void** value, size_t* length, double timeoutSeconds) {
  auto* self = static_cast<StoreBridge*>(context);
  *value = nullptr;
  *length = 0;
  return self->guarded("get", key, [&] {
    self->store_->wait({key}, milliseconds(timeoutSeconds));
    std::vector<uint8_t> bytes = self->store_->get(key);
    void* copy = std::malloc(bytes.empty() ? 1 : bytes.size());
    if (copy == nullptr) throw std::bad_alloc();
    if (!bytes.empty()) std::memcpy(copy, bytes.data(), bytes.size());
    *value = copy;
    *length = bytes.size();
  });
}

int StoreBridge::add(void* context, const char* key, long long delta, long long* result) {
  auto* self = static_cast<StoreBridge*>(context);
  return self->guarded("add", key, [&] { *result = self->store_->add(key, delta); });
}

int StoreBridge::wait(void* context, const char* const* keys, size_t count, double timeoutSeconds) {
  auto* self = static_cast<StoreBridge*>(context);
  return self->guarded("wait", count > 0 ? keys[0] : "", [&] {
    self->store_->wait(keyList(keys, count), milliseconds(timeoutSeconds));
  });
}

int StoreBridge::check(void* context, const char* const* keys, size_t count, int* present) {
  auto* self = static_cast<StoreBridge*>(context);
  return self->guarded("check", count > 0 ? keys[0] : "", [&] {
    *present = self->store_->check(keyList(keys, count)) ? 1 : 0;
  });
}

} // namespace swift_collectives
