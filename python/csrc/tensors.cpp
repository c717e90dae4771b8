#include "tensors.hpp"

#include <c10/util/Exception.h>

namespace swift_collectives {

collDataType_t dataType(const at::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case at::kFloat: return collFloat32;
    case at::kDouble: return collFloat64;
    case at::kHalf: return collFloat16;
    case at::kBFloat16: return collBFloat16;
    case at::kChar: return collInt8;
    case at::kByte: return collUInt8;
    case at::kInt: return collInt32;
    case at::kUInt32: return collUInt32;
    case at::kLong: return collInt64;
    case at::kUInt64: return collUInt64;
    case at::kBool: return collBool;
    default:
      TORCH_CHECK(false, "swift-collectives: tensors of ", tensor.scalar_type(),
                  " are not supported (float32, float64, float16, bfloat16, int8, uint8, int32, uint32, int64, uint64 and bool are)");
  }
}

const char* reductionName(const c10d::ReduceOp& op) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return "sum";
    case c10d::ReduceOp::AVG: return "average";
    case c10d::ReduceOp::PRODUCT: return "product";
    case c10d::ReduceOp::MIN: return "min";
    case c10d::ReduceOp::MAX: return "max";
    case c10d::ReduceOp::BAND: return "bitwise and";
    case c10d::ReduceOp::BOR: return "bitwise or";
    case c10d::ReduceOp::BXOR: return "bitwise xor";
    case c10d::ReduceOp::PREMUL_SUM: return "premultiplied sum";
    default: return "unknown";
  }
}

collRedOp_t reduction(const c10d::ReduceOp& op, at::ScalarType type) {
  bool isBool = type == at::kBool;
  bool isFloat = at::isFloatingType(type);
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return isBool ? collMax : collSum;
    case c10d::ReduceOp::PRODUCT: return isBool ? collMin : collProduct;
    case c10d::ReduceOp::MIN: return collMin;
    case c10d::ReduceOp::MAX: return collMax;
    case c10d::ReduceOp::AVG:
      TORCH_CHECK(isFloat, "swift-collectives: ReduceOp.AVG needs a floating-point tensor, not ", type);
      return collAverage;
    case c10d::ReduceOp::BAND:
    case c10d::ReduceOp::BOR:
    case c10d::ReduceOp::BXOR:
      TORCH_CHECK(!isFloat, "swift-collectives: bitwise ", reductionName(op), " needs an integer or bool tensor, not ", type);
      return op.op_ == c10d::ReduceOp::BAND ? collBitwiseAnd : op.op_ == c10d::ReduceOp::BOR ? collBitwiseOr : collBitwiseXor;
    default:
      TORCH_CHECK(false, "swift-collectives: ReduceOp ", reductionName(op), " is not supported");
  }
}

void checkTensors(const std::vector<at::Tensor>& tensors, const char* operation) {
  TORCH_CHECK(!tensors.empty(), "swift-collectives ", operation, ": no tensor given");
  for (const auto& tensor : tensors) {
    TORCH_CHECK(tensor.device().is_cpu(), "swift-collectives ", operation, ": tensors must be on the CPU, not ", tensor.device());
    TORCH_CHECK(tensor.layout() == at::kStrided, "swift-collectives ", operation, ": tensors must be dense (strided)");
    TORCH_CHECK(tensor.scalar_type() == tensors[0].scalar_type(), "swift-collectives ", operation,
                ": tensors of different types (", tensors[0].scalar_type(), ", ", tensor.scalar_type(), ")");
  }
  dataType(tensors[0]);
}

void checkOne(const std::vector<at::Tensor>& tensors, const char* operation) {
  TORCH_CHECK(tensors.size() == 1, "swift-collectives ", operation, ": takes one tensor per process, not ", tensors.size());
  checkTensors(tensors, operation);
}

at::Tensor flattened(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> pieces;
  pieces.reserve(tensors.size());
  for (const auto& tensor : tensors) pieces.push_back(tensor.reshape({-1}));
  return at::cat(pieces);
}

void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (const auto& tensor : tensors) {
    tensor.copy_(flat.narrow(0, offset, tensor.numel()).view(tensor.sizes()));
    offset += tensor.numel();
  }
}

} // namespace swift_collectives
