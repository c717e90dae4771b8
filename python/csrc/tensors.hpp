// torch tensors as the C interface's buffers: element types, operations, and contiguous staging.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Types.hpp>

#include <string>
#include <vector>

#include "collectives.h"

namespace swift_collectives {

// The C type of a tensor's elements; raises for a type the library has not.
collDataType_t dataType(const at::Tensor& tensor);
// The C operation for a torch reduction on a type (Bool sums as or, multiplies as and, as
// other backends do); raises for one the library has not (PREMUL_SUM, averages of integers).
collRedOp_t reduction(const c10d::ReduceOp& op, at::ScalarType type);
const char* reductionName(const c10d::ReduceOp& op);

// Raises unless every tensor is a dense CPU tensor of the first one's type.
void checkTensors(const std::vector<at::Tensor>& tensors, const char* operation);
void checkOne(const std::vector<at::Tensor>& tensors, const char* operation);

// A tensor's elements in contiguous memory: the tensor itself when it is contiguous, a copy
// otherwise, which copyBack() writes back after the call.
struct Staged {
  at::Tensor user;
  at::Tensor flat;

  explicit Staged(const at::Tensor& tensor) : user(tensor), flat(tensor.is_contiguous() ? tensor : tensor.contiguous()) {}
  void* data() const { return flat.data_ptr(); }
  size_t count() const { return static_cast<size_t>(flat.numel()); }
  void copyBack() const {
    if (!flat.is_same(user)) user.copy_(flat);
  }
};

// The tensors' elements one after the other, in one new contiguous tensor.
at::Tensor flattened(const std::vector<at::Tensor>& tensors);
// Copies consecutive pieces of flat into each tensor.
void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& tensors);

} // namespace swift_collectives
