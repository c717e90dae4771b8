#include "work.hpp"

#include <ATen/core/ivalue.h>
#include <c10/util/Exception.h>

namespace swift_collectives {

std::exception_ptr backendError(const std::string& message) {
  try {
    C10_THROW_ERROR(DistBackendError, message);
  } catch (...) {
    return std::current_exception();
  }
}

std::string Call::words() const {
  std::string text = "rank " + std::to_string(rank) + ": " + operation;
  if (count >= 0) text += std::string(" of ") + std::to_string(count) + " x " + c10::toString(type);
  if (detail != nullptr) text += std::string(" (") + detail + ")";
  if (peer >= 0) text += std::string(operation[0] == 's' ? " to" : " from") + " rank " + std::to_string(peer) + ", tag " + std::to_string(tag);
  return text;
}

CollectiveWork::CollectiveWork(c10d::OpType type, const char* title, std::vector<at::Tensor> outputs, Call call)
    : c10d::Work(call.rank, type, title), outputs_(std::move(outputs)), call_(call) {}

bool CollectiveWork::isCompleted() {
  std::lock_guard<std::mutex> guard(mutex_);
  return completed_;
}

bool CollectiveWork::isSuccess() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return completed_ && !exception_;
}

std::exception_ptr CollectiveWork::exception() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return exception_;
}

bool CollectiveWork::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (timeout == ::kNoTimeout) {
    cv_.wait(lock, [&] { return completed_; });
  } else if (!cv_.wait_for(lock, timeout, [&] { return completed_; })) {
    lock.unlock();
    std::rethrow_exception(backendError("swift-collectives " + what() + ": not finished within the " +
                                        std::to_string(timeout.count()) + " ms given to wait()"));
  }
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> CollectiveWork::getFuture() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!future_) {
    future_ = c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()));
    if (completed_) {
      // Finished before anyone asked: the future starts finished.
      std::exception_ptr error = exception_;
      lock.unlock();
      if (error) {
        future_->setError(error);
      } else {
        future_->markCompleted(c10::IValue(outputs_));
      }
    }
  }
  return future_;
}

std::vector<at::Tensor> CollectiveWork::result() { return outputs_; }

void CollectiveWork::complete(collResult_t result, const std::string& message) {
  std::exception_ptr error;
  if (result != collSuccess) {
    error = backendError("swift-collectives " + what() + " failed: " + collGetErrorString(result) +
                         (message.empty() ? "" : ": " + message));
  }
  c10::intrusive_ptr<c10::ivalue::Future> future;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    completed_ = true;
    exception_ = error;
    future = future_;
  }
  cv_.notify_all();
  if (!future) return;
  if (error) {
    future->setError(error);
  } else {
    future->markCompleted(c10::IValue(outputs_));
  }
}

PeerWork::PeerWork(c10d::OpType type, std::vector<at::Tensor> outputs, Call call, collRequest_t request, std::function<void()> afterwards)
    : CollectiveWork(type, nullptr, std::move(outputs), call),
      request_(request),
      afterwards_(std::move(afterwards)) {}

PeerWork::~PeerWork() {
  // The library still lends the tensors' memory: wait before they can go.
  finishRequest();
}

void PeerWork::finishRequest() {
  std::lock_guard<std::mutex> guard(requestLock_);
  if (request_ == nullptr) return;
  collResult_t result = collWait(request_);
  request_ = nullptr;
  std::string message = result == collSuccess ? "" : collGetLastError();
  if (result == collSuccess && afterwards_) afterwards_();
  complete(result, message);
}

bool PeerWork::isCompleted() {
  // A started message cannot be polled (collectives.h): only waiting finishes it.
  return CollectiveWork::isCompleted();
}

bool PeerWork::wait(std::chrono::milliseconds timeout) {
  finishRequest();
  return CollectiveWork::wait(timeout);
}

c10::intrusive_ptr<c10::ivalue::Future> PeerWork::getFuture() {
  finishRequest();
  return CollectiveWork::getFuture();
}

} // namespace swift_collectives
