// blob_compile: ONNX (opset 11, fixed shape) -> Myriad X .blob with the OpenVINO 2021.4 MYRIAD plugin, no device needed.
//
// Built by remyx_nb.blob.ov2021_toolchain() against the libraries of the PyPI wheel openvino==2021.4.2, which ships
// no headers. The few declarations below are the ones we call; they match the 2021.4 C++ ABI (pre-C++11 std::string,
// so build with -D_GLIBCXX_USE_CXX11_ABI=0) and the exported symbols of libinference_engine.so:
//   InferenceEngine::Core::Core(std::string const&)
//   InferenceEngine::Core::LoadNetwork(std::string const&, std::string const&, std::map<std::string, std::string> const&)
//   InferenceEngine::ExecutableNetwork::Export(std::string const&)
// The real objects are smaller than the storage reserved here (Core: one shared_ptr; ExecutableNetwork: a library
// handle and two shared_ptrs). Their destructors are inline in the real headers, so we never run them: the objects
// live on the heap and the process ends with _Exit, which also skips the plugin's static destructors.
//
// usage: blob_compile MODEL.onnx OUT.blob SHAVES CMX_SLICES
// exit 0: OUT.blob written; exit 1: the message of the OpenVINO exception on stderr; exit 64: bad usage.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>

namespace InferenceEngine {
class ExecutableNetwork {
  alignas(16) char storage_[256];
 public:
  ~ExecutableNetwork();  // declared (never defined or called) so that, like the real class, it is returned in memory
  void Export(const std::string& modelFileName);
};
class Core {
  alignas(16) char storage_[64];
 public:
  explicit Core(const std::string& xmlConfigFile);
  ~Core();
  ExecutableNetwork LoadNetwork(const std::string& modelPath, const std::string& deviceName,
                                const std::map<std::string, std::string>& config);
};
}  // namespace InferenceEngine

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL.onnx OUT.blob SHAVES CMX_SLICES\n", argv[0]);
    return 64;
  }
  // Keys from vpu/myriad_plugin_config.hpp (2021.4). Naming the platform is what lets the plugin compile offline.
  const std::map<std::string, std::string> config = {
      {"VPU_MYRIAD_PLATFORM", "VPU_MYRIAD_2480"},
      {"MYRIAD_NUMBER_OF_SHAVES", argv[3]},
      {"MYRIAD_NUMBER_OF_CMX_SLICES", argv[4]},
  };
  try {
    auto* core = new InferenceEngine::Core(std::string());
    auto* exe = new InferenceEngine::ExecutableNetwork(core->LoadNetwork(argv[1], "MYRIAD", config));
    exe->Export(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);
  } catch (...) {
    std::fprintf(stderr, "unknown error while compiling for MYRIAD\n");
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}
