// Mutates the reference GGUF files (truncations, byte flips in the header, metadata and tensor
// infos, absurd counts and dimensions) and loads each result as a model and, when it loads, runs a
// forward pass. Every case must end in a clean one-line error or a finished pass: never a crash or
// a read outside the buffer (CI runs this under AddressSanitizer + UBSan).
#include <random>

#include "denoiser/denoiser.h"
#include "tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace sculpt {
namespace {

enum class Outcome { kError, kLoadedAndRan };

Outcome LoadAndRun(const std::vector<uint8_t>& bytes) {
  auto file = gguf::File::FromBuffer(bytes);
  Status error = file.status();
  if (file.ok()) {
    // The tokenizer reads the same (possibly broken) metadata: it must fail cleanly or work.
    auto tok = Tokenizer::FromGguf(*file);
    if (tok.ok()) {
      const auto ids = (*tok)->Encode("def f(x):\n    return x  # \xc3\xa9\xff", true, true);
      EXPECT_TRUE((*tok)->Decode(ids).ok());
    } else {
      EXPECT_EQ(tok.status().message().find('\n'), std::string::npos);
    }
    auto model = Denoiser::FromFile(std::move(file).value());
    if (model.ok()) {
      const auto& c = (*model)->config();
      std::vector<int32_t> tokens = {0, 1, static_cast<int32_t>(c.n_vocab - 1), 2};
      std::vector<int32_t> rows = {0, 3};
      SequenceInput in;
      in.tokens = tokens;
      in.attention = c.NativeAttention();
      in.logit_rows = rows;
      Logits out;
      error = (*model)->Forward({&in, 1}, &out);
      if (error.ok()) return Outcome::kLoadedAndRan;
    } else {
      error = model.status();
    }
  }
  EXPECT_FALSE(error.message().empty());
  EXPECT_EQ(error.message().find('\n'), std::string::npos) << error.message();
  return Outcome::kError;
}

TEST(GgufFuzz, MutatedFilesFailCleanly) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const char* files[] = {"models/llada-tiny.q4_k.gguf", "models/dream-tiny.gguf",
                         "models/llama-tiny.q8_0.gguf", "models/qwen2-tiny.gguf",
                         "models/llada-tiny.f16.gguf", "tokenizer/ggml-vocab-gpt-2.gguf"};
  std::mt19937_64 rng(20261122);
  int cases = 0, errors = 0;
  for (const char* name : files) {
    SCOPED_TRACE(name);
    const std::vector<uint8_t> original = testing::ReadBytes(ref / name);
    auto parsed = gguf::File::FromBuffer(original);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    const uint64_t infos = parsed->tensor_info_offset();
    const uint64_t data = std::min<uint64_t>(parsed->data_offset(), original.size());
    uint64_t data_end = 0;
    for (const auto& t : parsed->tensors()) data_end = std::max(data_end, data + t.offset + t.n_bytes);
    auto pick = [&](uint64_t lo, uint64_t hi) {
      return lo + rng() % std::max<uint64_t>(hi - lo, 1);
    };
    for (int i = 0; i < 200; ++i, ++cases) {
      std::vector<uint8_t> b = original;
      const int kind = i % 5;
      if (kind == 0) {  // truncation: always an error when it cuts into the header or any tensor
        const uint64_t n = pick(0, b.size());
        b.resize(n);
        const Outcome o = LoadAndRun(b);
        if (n < std::max(data_end, uint64_t{24})) {
          EXPECT_EQ(o, Outcome::kError) << "truncated at " << n;
        }
        errors += o == Outcome::kError;
        continue;
      }
      if (kind == 1) {  // header bytes
        b[pick(0, 24)] ^= static_cast<uint8_t>(1u << (rng() % 8));
      } else if (kind == 2) {  // metadata bytes
        for (int k = 0; k < 3; ++k) b[pick(24, infos)] ^= static_cast<uint8_t>(rng());
      } else if (kind == 3 && data > infos) {  // tensor info bytes
        for (int k = 0; k < 2; ++k) b[pick(infos, data)] ^= static_cast<uint8_t>(rng());
      } else {  // an absurd 32- or 64-bit value anywhere before the data
        static constexpr uint64_t kAbsurd[] = {0, 1, 0xFFFFFFFFull, 1ull << 31, 1ull << 40,
                                               1ull << 62, ~0ull, 0x7FFFFFFFFFFFFFFFull};
        const uint64_t v = kAbsurd[rng() % std::size(kAbsurd)];
        const uint64_t at = pick(8, data - 8);
        std::memcpy(b.data() + at, &v, (rng() & 1) ? 8 : 4);
      }
      errors += LoadAndRun(b) == Outcome::kError;
    }
  }
  std::printf("  %d mutated files: %d clean errors, %d loaded and ran\n", cases, errors,
              cases - errors);
  EXPECT_GE(cases, 1000);
  EXPECT_GT(errors, cases / 3) << "mutations should mostly break the files";
}

}  // namespace
}  // namespace sculpt
