// SafetensorsFile on a whole file: length prefix, header, mmap'ed data. Reads every accepted tensor's
// bytes, so an offset the validation let through past the mapping faults here.
#include "core/error.h"
#include "core/formats/safetensors.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = hl::fuzz::write_scratch("model.safetensors", data, size);
  try {
    hl::SafetensorsFile f(path);
    uint64_t sum = 0;
    for (const auto& t : f.tensors()) {
      const uint8_t* p = f.data(t);
      for (uint64_t i = 0; i < t.end - t.begin; ++i) sum += p[i];
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const hl::Error&) {
  }
  return 0;
}
