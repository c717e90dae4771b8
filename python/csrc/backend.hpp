// swift-collectives as a torch.distributed backend ("collectives"): every call torch makes of a
// CPU process group, run by the Swift library through its C interface (collectives.h).
//
// A call torch waits on at once (async_op=False) runs on the calling thread when nothing is
// queued; other calls run in order on the backend's thread, so that DDP overlaps them with the
// backward pass. Sends and receives are started at once and move on the library's own.
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "collectives.h"
#include "store_bridge.hpp"
#include "work.hpp"

namespace swift_collectives {

class CollectivesBackend : public c10d::Backend {
 public:
  CollectivesBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, std::chrono::milliseconds timeout);
  ~CollectivesBackend() override;

  const std::string getBackendName() const override { return "collectives"; }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors, const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors, const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                    const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                          const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input, const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_into_tensor_coalesced(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                                                const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                       const c10d::GatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                        const c10d::ScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                               const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                     const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter_tensor_coalesced(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& output, at::Tensor& input, std::vector<int64_t>& outputSplits,
                                              std::vector<int64_t>& inputSplits, const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                         const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dstRank, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) override;

  // Stops the communicator: blocked and later calls fail at once.
  void abort() override;
  // Finishes queued calls, then closes the communicator.
  void shutdown() override;

 private:
  // One call as queued for the backend's thread.
  using Task = std::function<void()>;

  // Runs body now on this thread when torch waits for the call at once and nothing is queued;
  // queues it for the backend's thread otherwise.
  template <typename Body>
  c10::intrusive_ptr<c10d::Work> submit(c10d::OpType type, const char* title, Call call, std::vector<at::Tensor> outputs,
                                        bool asyncOp, Body&& body);
  // Runs task now on this thread when mayRunHere and nothing is queued or running, else queues
  // it for the backend's thread; refuses it once the backend is stopping. Every call and message
  // goes through here, so all keep their issue order.
  enum class Placement { ran, queued, refused };
  template <typename Body>
  Placement runNowOrQueue(Body&& task, bool mayRunHere = true);
  // Posts a send or receive in issue order (post returns the library's result and request).
  c10::intrusive_ptr<c10d::Work> startPeer(c10d::OpType type, std::vector<at::Tensor> outputs, std::vector<at::Tensor> lent, Call call,
                                           std::function<collResult_t(collRequest_t*)> post, std::function<void()> afterwards);
  void workLoop();
  void stopThread();
  Call describe(const char* operation, const at::Tensor& tensor, const char* detail = nullptr) const;

  std::unique_ptr<StoreBridge> bridge_;
  collComm_t comm_ = nullptr;
  std::shared_ptr<Orphans> orphans_ = std::make_shared<Orphans>();

  std::mutex lock_;
  std::condition_variable changed_;
  std::deque<Task> queue_;
  bool running_ = false;  // a call is running (on the thread or on a caller's)
  bool stopping_ = false;
  std::thread thread_;
};

// The creator torch.distributed calls for init_process_group("collectives") and new_group.
c10::intrusive_ptr<c10d::Backend> createBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                const std::chrono::duration<float>& timeout);

} // namespace swift_collectives
