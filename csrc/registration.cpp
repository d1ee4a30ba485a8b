// The module init of convkernels._C and its runtime self-test: the generic part of the
// extension. Each operator family registers its own schemas and CUDA kernels in its glue file
// (a TORCH_LIBRARY_FRAGMENT next to the TORCH_LIBRARY_IMPL in csrc/ops/<family>*.cpp), so a new
// family adds files and touches nothing here. Importing the module only has to load this shared
// library: those static registrations run at load time. No pybind11 is involved.
//
// The namespace is shared with the Python side (torch.library.custom_op defines the triton_*
// twins as fragments of torch.ops.convkernels), so no TU declares it with TORCH_LIBRARY: every
// registration is a fragment, whichever of the two loads first.
//
// The build facts (torch, CUDA, archs, compiler) are not compiled in: setup.py writes them to
// _C.build.json beside this library, so importing the package runs no code of ours beyond the
// static registrations (see convkernels/_extension.py for why).
#include <Python.h>
#include <c10/util/Exception.h>

#include <sstream>
#include <string>

namespace convkernels {
namespace {

// Formats text the way every TORCH_CHECK in the glue does (c10::str -> std::ostringstream) and
// throws/catches a c10::Error. If the C++ standard library this extension runs against is not
// the one its compiler's headers describe, this is where it breaks, and the build check
// (tools/check_extension_runtime.py) reports it in a subprocess instead of letting a user's first
// bad argument crash their process.
std::string runtime_selftest() {
  std::ostringstream stream;
  stream << "streams ok (" << 42 << ", " << 0.5 << ")";
  try {
    TORCH_CHECK(false, "checks ok (", 7, ")");
  } catch (const c10::Error& e) {
    return stream.str() + "; " + e.msg();
  }
  return stream.str() + "; TORCH_CHECK did not throw";
}

}  // namespace
}  // namespace convkernels

namespace {
PyObject* py_runtime_selftest(PyObject* /*self*/, PyObject* /*unused*/) {
  try {
    return PyUnicode_FromString(convkernels::runtime_selftest().c_str());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

PyMethodDef module_methods[] = {
    {"_runtime_selftest", py_runtime_selftest, METH_NOARGS,
     "Exercise the C++ runtime (streams, TORCH_CHECK); never called at import."},
    {nullptr, nullptr, 0, nullptr},
};
}  // namespace

extern "C" {
// `import convkernels._C` needs a module object; the ops live in torch.ops.convkernels.
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "convkernels CUDA kernels; the operators are registered as torch.ops.convkernels.cuda_*",
      -1,              // per-interpreter state size
      module_methods,  // _runtime_selftest()
  };
  return PyModule_Create(&module_def);
}
}
