#include "backend.hpp"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "tensors.hpp"

namespace swift_collectives {

CollectivesBackend::CollectivesBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                       std::chrono::milliseconds timeout)
    : c10d::Backend(rank, size), bridge_(std::make_unique<StoreBridge>(store)) {
  double seconds = timeout.count() > 0 ? static_cast<double>(timeout.count()) / 1000.0 : 1800.0;
  collResult_t result = collCommInitWithStore(&comm_, rank, size, bridge_->callbacks(), seconds);
  if (result != collSuccess) {
    std::string message = collGetLastError();
    std::string store = bridge_->lastFailure();
    std::rethrow_exception(backendError("swift-collectives rank " + std::to_string(rank) + " of " + std::to_string(size) +
                                        ": making the communicator failed: " + collGetErrorString(result) + ": " + message +
                                        (store.empty() ? "" : " (the store: " + store + ")")));
  }
  thread_ = std::thread([this] { workLoop(); });
}

CollectivesBackend::~CollectivesBackend() {
  stopThread();
  orphans_->waitAll();
  if (comm_ != nullptr) collCommDestroy(comm_);
}

void CollectivesBackend::abort() {
  if (comm_ != nullptr) collCommAbort(comm_);
  stopThread();
}

void CollectivesBackend::shutdown() {
  stopThread();
  orphans_->waitAll();
  if (comm_ != nullptr) {
    collCommDestroy(comm_);
    comm_ = nullptr;
  }
}

void CollectivesBackend::stopThread() {
  {
    std::lock_guard<std::mutex> guard(lock_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Call CollectivesBackend::describe(const char* operation, const at::Tensor& tensor, const char* detail) const {
  Call call;
  call.rank = getRank();
  call.operation = operation;
  call.count = tensor.numel();
  call.type = tensor.scalar_type();
  call.detail = detail;
  return call;
}

namespace {

// Runs one call and records its outcome (the library's message is read on the same thread).
// Nothing thrown here may leave the backend's thread: a failing copy or a future's callback
// becomes the call's error.
template <typename Body>
void runCall(CollectiveWork& work, Body& body) {
  collResult_t result;
  try {
    result = body();
  } catch (const std::exception& error) {
    // A copy into or out of a staged tensor failed (out of memory).
    work.complete(collInvalidArgument, error.what());
    return;
  }
  try {
    work.complete(result, result == collSuccess ? "" : collGetLastError());
  } catch (...) {
    // A callback chained on the call's future threw: that is the callback's owner's to see,
    // on the future; the call itself has finished.
  }
}

} // namespace

template <typename Body>
CollectivesBackend::Placement CollectivesBackend::runNowOrQueue(Body&& task, bool mayRunHere) {
  std::unique_lock<std::mutex> lock(lock_);
  if (stopping_) return Placement::refused;
  if (!mayRunHere || running_ || !queue_.empty()) {
    queue_.emplace_back(std::forward<Body>(task));
    lock.unlock();
    changed_.notify_all();
    return Placement::queued;
  }
  running_ = true;
  lock.unlock();
  task();
  lock.lock();
  running_ = false;
  // Wake the thread only for calls queued meanwhile, or a shutdown waiting for this one
  // (waking it for nothing costs a switch).
  bool wake = !queue_.empty() || stopping_;
  lock.unlock();
  if (wake) changed_.notify_all();
  return Placement::ran;
}

template <typename Body>
c10::intrusive_ptr<c10d::Work> CollectivesBackend::submit(c10d::OpType type, const char* title, Call call,
                                                         std::vector<at::Tensor> outputs, bool asyncOp, Body&& body) {
  auto work = c10::make_intrusive<CollectiveWork>(type, title, std::move(outputs), call);
  // torch waits for a call made with asyncOp false at once: it runs here when nothing is
  // queued, rather than wake the thread for it.
  Placement placement = runNowOrQueue([work, body = std::forward<Body>(body)]() mutable { runCall(*work, body); }, !asyncOp);
  TORCH_CHECK(placement != Placement::refused, "swift-collectives ", work->what(), ": the process group was shut down or aborted");
  return work;
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::startPeer(c10d::OpType type, std::vector<at::Tensor> outputs,
                                                            std::vector<at::Tensor> lent, Call call,
                                                            std::function<collResult_t(collRequest_t*)> post,
                                                            std::function<void()> afterwards) {
  auto work = c10::make_intrusive<PeerWork>(type, std::move(outputs), std::move(lent), call, std::move(afterwards), orphans_);
  // Posted in issue order with the collectives, so that both ranks see the same order.
  Placement placement = runNowOrQueue([work, post] {
    collRequest_t request = nullptr;
    collResult_t result = post(&request);
    work->posted(result, request, result == collSuccess ? "" : collGetLastError());
  });
  TORCH_CHECK(placement != Placement::refused, "swift-collectives ", call.words(), ": the process group was shut down or aborted");
  return work;
}

void CollectivesBackend::workLoop() {
  std::unique_lock<std::mutex> lock(lock_);
  for (;;) {
    changed_.wait(lock, [&] { return (!queue_.empty() && !running_) || (stopping_ && !running_); });
    if (queue_.empty()) return;  // stopping, and every queued call has run
    Task next = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lock.unlock();
    next();
    lock.lock();
    running_ = false;
  }
}

// MARK: Reductions

c10::intrusive_ptr<c10d::Work> CollectivesBackend::allreduce(std::vector<at::Tensor>& tensors, const c10d::AllreduceOptions& opts) {
  checkOne(tensors, "all_reduce");
  Staged buffer(tensors[0]);
  collDataType_t type = dataType(buffer.flat);
  collRedOp_t op = reduction(opts.reduceOp, buffer.flat.scalar_type());
  return submit(c10d::OpType::ALLREDUCE, "collectives:all_reduce", describe("all_reduce", buffer.user, reductionName(opts.reduceOp)),
                tensors, opts.asyncOp, [this, buffer, type, op] {
                  collResult_t result = collAllReduce(buffer.data(), buffer.data(), buffer.count(), type, op, comm_);
                  if (result == collSuccess) buffer.copyBack();
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                      const c10d::AllreduceCoalescedOptions& opts) {
  checkTensors(tensors, "all_reduce_coalesced");
  at::Tensor flat = flattened(tensors);
  collDataType_t type = dataType(flat);
  collRedOp_t op = reduction(opts.reduceOp, flat.scalar_type());
  return submit(c10d::OpType::ALLREDUCE_COALESCED, "collectives:all_reduce_coalesced",
                describe("all_reduce_coalesced", flat, reductionName(opts.reduceOp)), tensors, opts.asyncOp,
                [this, flat, tensors, type, op] {
                  collResult_t result = collAllReduce(flat.data_ptr(), flat.data_ptr(), flat.numel(), type, op, comm_);
                  if (result == collSuccess) unflatten(flat, tensors);
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) {
  checkOne(tensors, "reduce");
  Staged buffer(tensors[0]);
  collDataType_t type = dataType(buffer.flat);
  collRedOp_t op = reduction(opts.reduceOp, buffer.flat.scalar_type());
  int root = static_cast<int>(opts.rootRank);
  bool isRoot = root == getRank();
  return submit(c10d::OpType::REDUCE, "collectives:reduce", describe("reduce", buffer.user, reductionName(opts.reduceOp)), tensors,
                opts.asyncOp, [this, buffer, type, op, root, isRoot] {
                  // In place on the root; elsewhere the tensor is only read.
                  collResult_t result = collReduce(buffer.data(), isRoot ? buffer.data() : nullptr, buffer.count(), type, op, root, comm_);
                  if (result == collSuccess && isRoot) buffer.copyBack();
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                                 std::vector<std::vector<at::Tensor>>& inputs,
                                                                 const c10d::ReduceScatterOptions& opts) {
  checkOne(outputs, "reduce_scatter");
  TORCH_CHECK(inputs.size() == 1 && static_cast<int>(inputs[0].size()) == getSize(),
              "swift-collectives reduce_scatter: needs one list of ", getSize(), " input tensors");
  checkTensors(inputs[0], "reduce_scatter");
  for (const auto& input : inputs[0]) {
    TORCH_CHECK(input.numel() == outputs[0].numel() && input.scalar_type() == outputs[0].scalar_type(),
                "swift-collectives reduce_scatter: every input must have the output's size and type");
  }
  at::Tensor whole = flattened(inputs[0]);
  Staged output(outputs[0]);
  collDataType_t type = dataType(whole);
  collRedOp_t op = reduction(opts.reduceOp, whole.scalar_type());
  return submit(c10d::OpType::REDUCE_SCATTER, "collectives:reduce_scatter",
                describe("reduce_scatter", output.user, reductionName(opts.reduceOp)), outputs, opts.asyncOp,
                [this, whole, output, type, op] {
                  collResult_t result = collReduceScatter(whole.data_ptr(), output.data(), output.count(), type, op, comm_);
                  if (result == collSuccess) output.copyBack();
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                       const c10d::ReduceScatterOptions& opts) {
  std::vector<at::Tensor> outputs{output}, inputs{input};
  return reduce_scatter_tensor_coalesced(outputs, inputs, opts);
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::reduce_scatter_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                                  std::vector<at::Tensor>& inputs,
                                                                                  const c10d::ReduceScatterOptions& opts) {
  checkTensors(outputs, "reduce_scatter_tensor");
  checkTensors(inputs, "reduce_scatter_tensor");
  TORCH_CHECK(outputs.size() == inputs.size(), "swift-collectives reduce_scatter_tensor: ", outputs.size(), " outputs for ",
              inputs.size(), " inputs");
  std::vector<Staged> staged;
  std::vector<at::Tensor> wholes;
  for (size_t i = 0; i < outputs.size(); i++) {
    TORCH_CHECK(inputs[i].numel() == outputs[i].numel() * getSize() && inputs[i].scalar_type() == outputs[i].scalar_type(),
                "swift-collectives reduce_scatter_tensor: the input must hold ", getSize(), " x the output's ", outputs[i].numel(),
                " elements of its type, not ", inputs[i].numel());
    staged.emplace_back(outputs[i]);
    wholes.push_back(inputs[i].contiguous());
  }
  collDataType_t type = dataType(outputs[0]);
  collRedOp_t op = reduction(opts.reduceOp, outputs[0].scalar_type());
  return submit(c10d::OpType::_REDUCE_SCATTER_BASE, "collectives:reduce_scatter_tensor",
                describe("reduce_scatter_tensor", outputs[0], reductionName(opts.reduceOp)), outputs, opts.asyncOp,
                [this, staged, wholes, type, op] {
                  for (size_t i = 0; i < staged.size(); i++) {
                    collResult_t result = collReduceScatter(wholes[i].data_ptr(), staged[i].data(), staged[i].count(), type, op, comm_);
                    if (result != collSuccess) return result;
                    staged[i].copyBack();
                  }
                  return collSuccess;
                });
}

// MARK: Rooted and gathering

c10::intrusive_ptr<c10d::Work> CollectivesBackend::broadcast(std::vector<at::Tensor>& tensors, const c10d::BroadcastOptions& opts) {
  checkOne(tensors, "broadcast");
  Staged buffer(tensors[0]);
  collDataType_t type = dataType(buffer.flat);
  int root = static_cast<int>(opts.rootRank);
  return submit(c10d::OpType::BROADCAST, "collectives:broadcast", describe("broadcast", buffer.user), tensors, opts.asyncOp,
                [this, buffer, type, root] {
                  collResult_t result = collBroadcast(buffer.data(), buffer.data(), buffer.count(), type, root, comm_);
                  if (result == collSuccess) buffer.copyBack();
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                            std::vector<at::Tensor>& inputs, const c10d::AllgatherOptions& opts) {
  checkOne(inputs, "all_gather");
  TORCH_CHECK(outputs.size() == 1 && static_cast<int>(outputs[0].size()) == getSize(),
              "swift-collectives all_gather: needs one list of ", getSize(), " output tensors");
  checkTensors(outputs[0], "all_gather");
  for (const auto& output : outputs[0]) {
    TORCH_CHECK(output.numel() == inputs[0].numel() && output.scalar_type() == inputs[0].scalar_type(),
                "swift-collectives all_gather: every output must have the input's size and type");
  }
  at::Tensor input = inputs[0].contiguous();
  at::Tensor whole = at::empty({input.numel() * getSize()}, input.options());
  std::vector<at::Tensor> targets = outputs[0];
  collDataType_t type = dataType(input);
  return submit(c10d::OpType::ALLGATHER, "collectives:all_gather", describe("all_gather", input), targets, opts.asyncOp,
                [this, input, whole, targets, type] {
                  collResult_t result = collAllGather(input.data_ptr(), whole.data_ptr(), input.numel(), type, comm_);
                  if (result == collSuccess) unflatten(whole, targets);
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                                  const c10d::AllgatherOptions& opts) {
  std::vector<at::Tensor> outputs{output}, inputs{input};
  return allgather_into_tensor_coalesced(outputs, inputs, opts);
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::allgather_into_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                                  std::vector<at::Tensor>& inputs,
                                                                                  const c10d::AllgatherOptions& opts) {
  checkTensors(outputs, "all_gather_into_tensor");
  checkTensors(inputs, "all_gather_into_tensor");
  TORCH_CHECK(outputs.size() == inputs.size(), "swift-collectives all_gather_into_tensor: ", outputs.size(), " outputs for ",
              inputs.size(), " inputs");
  std::vector<Staged> staged;
  std::vector<at::Tensor> sources;
  for (size_t i = 0; i < outputs.size(); i++) {
    TORCH_CHECK(outputs[i].numel() == inputs[i].numel() * getSize() && inputs[i].scalar_type() == outputs[i].scalar_type(),
                "swift-collectives all_gather_into_tensor: the output must hold ", getSize(), " x the input's ", inputs[i].numel(),
                " elements of its type, not ", outputs[i].numel());
    staged.emplace_back(outputs[i]);
    sources.push_back(inputs[i].contiguous());
  }
  collDataType_t type = dataType(inputs[0]);
  return submit(c10d::OpType::_ALLGATHER_BASE, "collectives:all_gather_into_tensor", describe("all_gather_into_tensor", inputs[0]),
                outputs, opts.asyncOp, [this, staged, sources, type] {
                  for (size_t i = 0; i < staged.size(); i++) {
                    collResult_t result = collAllGather(sources[i].data_ptr(), staged[i].data(), sources[i].numel(), type, comm_);
                    if (result != collSuccess) return result;
                    staged[i].copyBack();
                  }
                  return collSuccess;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::gather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                                         const c10d::GatherOptions& opts) {
  checkOne(inputs, "gather");
  int root = static_cast<int>(opts.rootRank);
  bool isRoot = root == getRank();
  std::vector<at::Tensor> targets;
  if (isRoot) {
    TORCH_CHECK(outputs.size() == 1 && static_cast<int>(outputs[0].size()) == getSize(),
                "swift-collectives gather: the root needs one list of ", getSize(), " output tensors");
    checkTensors(outputs[0], "gather");
    for (const auto& output : outputs[0]) {
      TORCH_CHECK(output.numel() == inputs[0].numel() && output.scalar_type() == inputs[0].scalar_type(),
                  "swift-collectives gather: every output must have the input's size and type");
    }
    targets = outputs[0];
  } else {
    TORCH_CHECK(outputs.empty() || (outputs.size() == 1 && outputs[0].empty()),
                "swift-collectives gather: only the root (rank ", root, ") gives output tensors");
  }
  at::Tensor input = inputs[0].contiguous();
  at::Tensor whole = isRoot ? at::empty({input.numel() * getSize()}, input.options()) : at::Tensor();
  collDataType_t type = dataType(input);
  return submit(c10d::OpType::GATHER, "collectives:gather", describe("gather", input), targets, opts.asyncOp,
                [this, input, whole, targets, type, root, isRoot] {
                  collResult_t result = collGather(input.data_ptr(), isRoot ? whole.data_ptr() : nullptr, input.numel(), type, root, comm_);
                  if (result == collSuccess && isRoot) unflatten(whole, targets);
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                                          const c10d::ScatterOptions& opts) {
  checkOne(outputs, "scatter");
  int root = static_cast<int>(opts.rootRank);
  bool isRoot = root == getRank();
  at::Tensor whole;
  if (isRoot) {
    TORCH_CHECK(inputs.size() == 1 && static_cast<int>(inputs[0].size()) == getSize(),
                "swift-collectives scatter: the root needs one list of ", getSize(), " input tensors");
    checkTensors(inputs[0], "scatter");
    for (const auto& input : inputs[0]) {
      TORCH_CHECK(input.numel() == outputs[0].numel() && input.scalar_type() == outputs[0].scalar_type(),
                  "swift-collectives scatter: every input must have the output's size and type");
    }
    whole = flattened(inputs[0]);
  } else {
    TORCH_CHECK(inputs.empty() || (inputs.size() == 1 && inputs[0].empty()),
                "swift-collectives scatter: only the root (rank ", root, ") gives input tensors");
  }
  Staged output(outputs[0]);
  collDataType_t type = dataType(output.flat);
  return submit(c10d::OpType::SCATTER, "collectives:scatter", describe("scatter", output.user), outputs, opts.asyncOp,
                [this, whole, output, type, root, isRoot] {
                  collResult_t result = collScatter(isRoot ? whole.data_ptr() : nullptr, output.data(), output.count(), type, root, comm_);
                  if (result == collSuccess) output.copyBack();
                  return result;
                });
}

// MARK: All-to-all

namespace {

// Elements per rank for an all-to-all of tensor split along its first dimension: splits (rows
// per rank) or, when empty, equal parts.
std::vector<size_t> splitCounts(const at::Tensor& tensor, const std::vector<int64_t>& splits, int ranks, const char* which) {
  std::vector<size_t> counts(static_cast<size_t>(ranks));
  int64_t rows = tensor.dim() == 0 ? 1 : tensor.size(0);
  int64_t rowElements = rows == 0 ? 0 : tensor.numel() / rows;
  if (splits.empty()) {
    TORCH_CHECK(rows % ranks == 0, "swift-collectives all_to_all_single: the ", which, " tensor's ", rows,
                " rows do not split equally over ", ranks, " ranks");
    for (auto& count : counts) count = static_cast<size_t>(rows / ranks * rowElements);
    return counts;
  }
  TORCH_CHECK(static_cast<int>(splits.size()) == ranks, "swift-collectives all_to_all_single: ", splits.size(), " ", which,
              " split sizes for ", ranks, " ranks");
  int64_t total = 0;
  for (int i = 0; i < ranks; i++) {
    TORCH_CHECK(splits[i] >= 0, "swift-collectives all_to_all_single: a negative ", which, " split size");
    counts[i] = static_cast<size_t>(splits[i] * rowElements);
    total += splits[i];
  }
  TORCH_CHECK(total == rows, "swift-collectives all_to_all_single: the ", which, " split sizes add up to ", total, ", not the ",
              rows, " rows");
  return counts;
}

} // namespace

c10::intrusive_ptr<c10d::Work> CollectivesBackend::alltoall_base(at::Tensor& output, at::Tensor& input, std::vector<int64_t>& outputSplits,
                                                                std::vector<int64_t>& inputSplits, const c10d::AllToAllOptions& opts) {
  checkTensors({output, input}, "all_to_all_single");
  std::vector<size_t> sendCounts = splitCounts(input, inputSplits, getSize(), "input");
  std::vector<size_t> receiveCounts = splitCounts(output, outputSplits, getSize(), "output");
  at::Tensor source = input.contiguous();
  Staged target(output);
  collDataType_t type = dataType(source);
  bool equal = inputSplits.empty() && outputSplits.empty();
  TORCH_CHECK(!equal || output.numel() == input.numel(), "swift-collectives all_to_all_single: the output has ", output.numel(),
              " elements, the input ", input.numel(), " (equal splits need the same)");
  return submit(c10d::OpType::ALLTOALL_BASE, "collectives:all_to_all_single", describe("all_to_all_single", source),
                {output}, opts.asyncOp, [this, source, target, type, equal, sendCounts, receiveCounts] {
                  collResult_t result = equal ? collAllToAll(source.data_ptr(), target.data(), sendCounts[0], type, comm_)
                                              : collAllToAllv(source.data_ptr(), sendCounts.data(), target.data(), receiveCounts.data(), type, comm_);
                  if (result == collSuccess) target.copyBack();
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                                           const c10d::AllToAllOptions& opts) {
  checkTensors(outputs, "all_to_all");
  checkTensors(inputs, "all_to_all");
  TORCH_CHECK(static_cast<int>(outputs.size()) == getSize() && static_cast<int>(inputs.size()) == getSize(),
              "swift-collectives all_to_all: needs ", getSize(), " input and output tensors");
  std::vector<size_t> sendCounts, receiveCounts;
  for (const auto& tensor : inputs) sendCounts.push_back(static_cast<size_t>(tensor.numel()));
  for (const auto& tensor : outputs) receiveCounts.push_back(static_cast<size_t>(tensor.numel()));
  at::Tensor source = flattened(inputs);
  int64_t total = 0;
  for (size_t count : receiveCounts) total += static_cast<int64_t>(count);
  at::Tensor whole = at::empty({total}, outputs[0].options());
  collDataType_t type = dataType(source);
  return submit(c10d::OpType::ALLTOALL, "collectives:all_to_all", describe("all_to_all", source), outputs, opts.asyncOp,
                [this, source, whole, outputs, type, sendCounts, receiveCounts] {
                  collResult_t result = collAllToAllv(source.data_ptr(), sendCounts.data(), whole.data_ptr(), receiveCounts.data(), type, comm_);
                  if (result == collSuccess) unflatten(whole, outputs);
                  return result;
                });
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::barrier(const c10d::BarrierOptions& opts) {
  Call call;
  call.rank = getRank();
  call.operation = "barrier";
  call.count = -1;
  return submit(c10d::OpType::BARRIER, "collectives:barrier", call, {}, opts.asyncOp,
                [this] { return collBarrier(comm_); });
}

// MARK: Point to point

c10::intrusive_ptr<c10d::Work> CollectivesBackend::send(std::vector<at::Tensor>& tensors, int dstRank, int tag) {
  checkOne(tensors, "send");
  at::Tensor source = tensors[0].contiguous();
  Call call = describe("send", source);
  call.peer = dstRank;
  call.tag = tag;
  collDataType_t type = dataType(source);
  return startPeer(c10d::OpType::SEND, {source}, {source}, call,
                   [this, source, type, dstRank, tag](collRequest_t* request) {
                     return collISend(source.data_ptr(), source.numel(), type, dstRank, tag, comm_, request);
                   },
                   nullptr);
}

c10::intrusive_ptr<c10d::Work> CollectivesBackend::recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) {
  checkOne(tensors, "recv");
  Staged target(tensors[0]);
  Call call = describe("recv", target.user);
  call.peer = srcRank;
  call.tag = tag;
  collDataType_t type = dataType(target.flat);
  return startPeer(c10d::OpType::RECV, {target.user}, {target.flat}, call,
                   [this, target, type, srcRank, tag](collRequest_t* request) {
                     return collIRecv(target.data(), target.count(), type, srcRank, tag, comm_, request);
                   },
                   [target] { target.copyBack(); });
}

c10::intrusive_ptr<c10d::Backend> createBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                const std::chrono::duration<float>& timeout) {
  // torch hands a group the same store prefix again after destroy_process_group and a new
  // init_process_group: count this rank's communicators on it, so each gets keys of its own
  // (every rank makes the same groups in the same order, so the counts agree).
  int64_t generation = store->add("swift_collectives/communicators/" + std::to_string(rank), 1);
  auto own = c10::make_intrusive<c10d::PrefixStore>("swift_collectives/" + std::to_string(generation), store);
  return c10::make_intrusive<CollectivesBackend>(own, rank, size, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
}

} // namespace swift_collectives
