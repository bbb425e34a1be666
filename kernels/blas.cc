#include "kernels/blas.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "base/check.h"

namespace sculpt::kernels {
namespace {

// The CBLAS ABI: enums are ints with these values in every CBLAS.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);

struct Library {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  std::string error;
};

const Library& Open() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      lib.error = why != nullptr ? why : "dlopen failed";
      return;
    }
    lib.sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
    lib.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads"));
    if (lib.sgemm == nullptr || lib.set_threads == nullptr) {
      lib.error = "libopenblas.so.0 lacks cblas_sgemm or openblas_set_num_threads";
      lib.sgemm = nullptr;
    }
  });
  return lib;
}

}  // namespace

Status LoadBlas() {
  const Library& lib = Open();
  if (lib.sgemm == nullptr) {
    return InvalidArgument("OpenBLAS (--kernels blas, the bench's baseline) cannot be opened: {}",
                           lib.error);
  }
  return Status::Ok();
}

void BlasSgemmNT(int64_t m, int64_t n, int64_t k, const float* x, const float* w, float* y,
                 int threads) {
  const Library& lib = Open();
  SCULPT_CHECK(lib.sgemm != nullptr && "BlasSgemmNT before a successful LoadBlas");
  lib.set_threads(threads);
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  lib.sgemm(kRowMajor, kNoTrans, kTrans, im, in, ik, 1.0f, x, ik, w, ik, 0.0f, y, in);
}

}  // namespace sculpt::kernels
