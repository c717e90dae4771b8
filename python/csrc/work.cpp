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
  if (recordFunctionEndCallback_) {
    // Ends the profiler's range for this call, as Work::finish does.
    recordFunctionEndCallback_();
    recordFunctionEndCallback_ = nullptr;
  }
  if (!future) return;
  if (error) {
    future->setError(error);
  } else {
    future->markCompleted(c10::IValue(outputs_));
  }
}

Orphans::~Orphans() { waitAll(); }

void Orphans::adopt(collRequest_t request, std::vector<at::Tensor> tensors) {
  std::lock_guard<std::mutex> guard(lock_);
  requests_.push_back(request);
  for (auto& tensor : tensors) tensors_.push_back(std::move(tensor));
}

void Orphans::waitAll() {
  std::vector<collRequest_t> requests;
  std::vector<at::Tensor> tensors;
  {
    std::lock_guard<std::mutex> guard(lock_);
    requests.swap(requests_);
    tensors.swap(tensors_);
  }
  // Each is bounded by the group's timeout; after an abort they return at once.
  for (collRequest_t request : requests) collWait(request);
}

PeerWork::PeerWork(c10d::OpType type, std::vector<at::Tensor> outputs, std::vector<at::Tensor> lent, Call call,
                   std::function<void()> afterwards, std::shared_ptr<Orphans> orphans)
    : CollectiveWork(type, nullptr, std::move(outputs), call),
      lent_(std::move(lent)),
      afterwards_(std::move(afterwards)),
      orphans_(std::move(orphans)) {}

PeerWork::~PeerWork() {
  // Not waited for: the library still lends the tensors' memory, so they go with the request.
  // (A work is destroyed only after it was posted: the queued post holds a reference.)
  std::lock_guard<std::mutex> guard(requestLock_);
  if (request_ != nullptr) orphans_->adopt(request_, lent_);
}

void PeerWork::posted(collResult_t result, collRequest_t request, const std::string& message) {
  {
    std::lock_guard<std::mutex> guard(requestLock_);
    posted_ = true;
    postResult_ = result;
    postMessage_ = message;
    request_ = request;
  }
  postedChanged_.notify_all();
}

void PeerWork::finishRequest() {
  std::unique_lock<std::mutex> lock(requestLock_);
  postedChanged_.wait(lock, [&] { return posted_; });
  if (CollectiveWork::isCompleted()) return;
  if (postResult_ != collSuccess) {
    complete(postResult_, postMessage_);
    return;
  }
  collResult_t result = collWait(request_);
  request_ = nullptr;
  std::string message = result == collSuccess ? "" : collGetLastError();
  if (result == collSuccess && afterwards_) {
    try {
      afterwards_();
    } catch (const std::exception& error) {
      result = collInvalidArgument;
      message = std::string("copying the received message into the tensor: ") + error.what();
    }
  }
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
