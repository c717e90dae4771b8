// The Work objects the backend hands to torch: one for a collective run by the backend's thread
// (or at once, for a call torch waits on), one for a started send or receive.
#pragma once

#include <torch/csrc/distributed/c10d/Work.hpp>

#include <functional>
#include <string>
#include <vector>

#include "collectives.h"

namespace swift_collectives {

// The exception torch raises in Python as torch.distributed.DistBackendError.
std::exception_ptr backendError(const std::string& message);

// A call as errors name it ("rank 1: all_reduce of 1000 x Float (sum)"), kept as values and
// put into words only when an error needs them.
struct Call {
  int rank = -1;
  const char* operation = "";
  int64_t count = 0;
  at::ScalarType type = at::kFloat;
  const char* detail = nullptr;  // the reduction, if any
  int peer = -1;                 // sends and receives: the other rank and the tag
  int tag = -1;

  std::string words() const;
};

class CollectiveWork : public c10d::Work {
 public:
  CollectiveWork(c10d::OpType type, const char* title, std::vector<at::Tensor> outputs, Call call);

  bool isCompleted() override;
  bool isSuccess() const override;
  std::exception_ptr exception() const override;
  // Waits until the call has finished (every call is bounded by the process group's timeout);
  // with a timeout, raises when it passes first. Raises the call's error.
  bool wait(std::chrono::milliseconds timeout = ::kNoTimeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;
  std::vector<at::Tensor> result() override;

  // Records the outcome of the call (its result and, on failure, the library's message).
  void complete(collResult_t result, const std::string& message);
  std::string what() const { return call_.words(); }

 protected:
  std::vector<at::Tensor> outputs_;
  Call call_;
  // Made when torch first asks for it (DDP does; a synchronous call does not).
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

// A started send or receive: the library moves it on its own; waiting finishes it (and copies a
// received message into a tensor that was not contiguous).
class PeerWork : public CollectiveWork {
 public:
  PeerWork(c10d::OpType type, std::vector<at::Tensor> outputs, Call call, collRequest_t request, std::function<void()> afterwards);
  ~PeerWork() override;

  bool isCompleted() override;
  bool wait(std::chrono::milliseconds timeout = ::kNoTimeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  void finishRequest();

  std::mutex requestLock_;
  collRequest_t request_;
  std::function<void()> afterwards_;
};

} // namespace swift_collectives
