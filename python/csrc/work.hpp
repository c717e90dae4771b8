// The Work objects the backend hands to torch: one for a collective run by the backend's thread
// (or at once, for a call torch waits on), one for a started send or receive.
#pragma once

#include <torch/csrc/distributed/c10d/Work.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
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

// Sends and receives nobody waited for: their requests (and the tensors they lend) are kept
// until the backend shuts down, or the last work that could hold one goes, then waited for.
class Orphans {
 public:
  ~Orphans();
  void adopt(collRequest_t request, std::vector<at::Tensor> tensors);
  void waitAll();

 private:
  std::mutex lock_;
  std::vector<collRequest_t> requests_;
  std::vector<at::Tensor> tensors_;
};

// A started send or receive. It is posted in issue order with the collectives (at once on the
// caller's thread when nothing is queued, else by the backend's thread); the library then moves
// it on its own, and waiting finishes it (copying a received message into a tensor that was not
// contiguous). Dropped without a wait, its request goes to the backend's Orphans.
class PeerWork : public CollectiveWork {
 public:
  // lent: the tensors whose memory the library reads or writes (a contiguous copy, for a
  // tensor that is not contiguous).
  PeerWork(c10d::OpType type, std::vector<at::Tensor> outputs, std::vector<at::Tensor> lent, Call call,
           std::function<void()> afterwards, std::shared_ptr<Orphans> orphans);
  ~PeerWork() override;

  // Records the outcome of posting the message: its request, or the error.
  void posted(collResult_t result, collRequest_t request, const std::string& message);

  bool isCompleted() override;
  bool wait(std::chrono::milliseconds timeout = ::kNoTimeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

 private:
  void finishRequest();

  std::mutex requestLock_;
  std::condition_variable postedChanged_;
  bool posted_ = false;
  collResult_t postResult_ = collSuccess;
  std::string postMessage_;
  collRequest_t request_ = nullptr;
  std::vector<at::Tensor> lent_;
  std::function<void()> afterwards_;
  std::shared_ptr<Orphans> orphans_;
};

} // namespace swift_collectives
