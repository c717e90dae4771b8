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

CollectiveWork::CollectiveWork(int rank, c10d::OpType type, const char* title, std::vector<at::Tensor> outputs, std::string what)
    : c10d::Work(rank, type, title),
      outputs_(std::move(outputs)),
      what_(std::move(what)),
      future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {}

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
    std::rethrow_exception(backendError("swift-collectives " + what_ + ": not finished within the " +
                                        std::to_string(timeout.count()) + " ms given to wait()"));
  }
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> CollectiveWork::getFuture() { return future_; }

std::vector<at::Tensor> CollectiveWork::result() { return outputs_; }

void CollectiveWork::complete(collResult_t result, const std::string& message) {
  std::exception_ptr error;
  if (result != collSuccess) {
    error = backendError("swift-collectives " + what_ + " failed: " + collGetErrorString(result) +
                         (message.empty() ? "" : ": " + message));
  }
  {
    std::lock_guard<std::mutex> guard(mutex_);
    completed_ = true;
    exception_ = error;
  }
  cv_.notify_all();
  if (error) {
    future_->setError(error);
  } else {
    future_->markCompleted(c10::IValue(outputs_));
  }
}

PeerWork::PeerWork(int rank, c10d::OpType type, std::vector<at::Tensor> outputs, std::string what, collRequest_t request,
                   std::function<void()> afterwards)
    : CollectiveWork(rank, type, nullptr, std::move(outputs), std::move(what)),
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
  return future_;
}

} // namespace swift_collectives
