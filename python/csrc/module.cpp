// The Python module swift_collectives._C: the backend's class and the creator torch calls.
#include <pybind11/chrono.h>
#include <torch/python.h>

#include "backend.hpp"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  pybind11::module_::import("torch.distributed");
  pybind11::class_<swift_collectives::CollectivesBackend, c10d::Backend, c10::intrusive_ptr<swift_collectives::CollectivesBackend>>(
      module, "CollectivesBackend", "swift-collectives as a torch.distributed backend (made by init_process_group(\"collectives\")).");
  module.def("create_backend", &swift_collectives::createBackend, pybind11::arg("store"), pybind11::arg("rank"), pybind11::arg("size"),
             pybind11::arg("timeout"), pybind11::call_guard<pybind11::gil_scoped_release>(),
             "Makes this rank's backend through torch's store (a collective call: every rank of the group makes it).");
  module.def("version", [] { return std::string(collGetVersion()); }, "The Swift library's version.");
}
