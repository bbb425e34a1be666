// tools/random_model.cc (build/sculpt-random-model): the random-weight GGUFs that speed
// measurements on larger shapes use load with exactly the requested shape and type, run, are
// reproducible from their seed, and bad shapes are refused without leaving a file.
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "denoiser/gguf/gguf.h"
#include "denoiser/gguf/writer.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "kernels/packed.h"
#include "kernels/quant.h"

namespace sculpt {
namespace {

namespace fs = std::filesystem;

int RunTool(const std::string& args, std::string* out) {
  FILE* p = popen((std::string(SCULPT_RANDOM_MODEL) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out->append(buf.data(), n);
  return pclose(p);
}

std::string Slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

const std::string kVocab = std::string(SCULPT_SOURCE_DIR) + "/models/sculpt-code-diffusion.gguf";

class RandomModel : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(RandomModel, HasTheRequestedShapeAndRuns) {
  const auto& [arch, type] = GetParam();
  const fs::path dir = fs::temp_directory_path() / ("sculpt-random-" + arch + "-" + type);
  fs::create_directories(dir);
  const fs::path file = dir / "m.gguf";
  std::string out;
  ASSERT_EQ(RunTool("--arch " + arch + " --type " + type + " --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 "
                "--n-ff 96 --n-ctx 128 --seed 7 --vocab-from " + kVocab + " --out " + file.string(), &out), 0) << out;
  auto info = InspectModel(file.string());
  ASSERT_TRUE(info.ok()) << info.status().message();
  const ModelConfig& c = info->config;
  EXPECT_EQ(info->architecture, arch);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.n_ff, 96);
  EXPECT_EQ(c.n_ctx_train, 128);
  EXPECT_EQ(c.n_vocab, 4096);
  EXPECT_EQ(c.causal, arch == "llama");
  std::string want = type;
  for (char& ch : want) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_GE(info->tensor_types.count(want) ? info->tensor_types.at(want) : 0, 2 * 7) << "matrices of type " << want;

  auto engine = Engine::Load(file.string());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto logits = (*engine)->AllLogits({{1, 2, 3, 4, 5}});
  ASSERT_TRUE(logits.ok());
  for (float v : (*logits)[0]) ASSERT_TRUE(std::isfinite(v));

  // The seed decides the weights: the same seed gives the same file, another seed another one.
  const fs::path again = dir / "again.gguf", other = dir / "other.gguf";
  const std::string shape = "--arch " + arch + " --type " + type +
                            " --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 96 --n-ctx 128 --vocab-from " + kVocab;
  ASSERT_EQ(RunTool(shape + " --seed 7 --out " + again.string(), &out), 0) << out;
  ASSERT_EQ(RunTool(shape + " --seed 8 --out " + other.string(), &out), 0) << out;
  EXPECT_EQ(Slurp(file), Slurp(again));
  EXPECT_NE(Slurp(file), Slurp(other));
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(ArchAndType, RandomModel,
                         ::testing::Combine(::testing::Values("llada", "llama"),
                                            ::testing::Values("f32", "f16", "q8_0", "q4_0", "q4_1",
                                                              "q5_0", "q5_1")));

// `path` with every tensor as F32 (quantized ones dequantized), metadata unchanged.
void WriteDequantizedCopy(const fs::path& path, const fs::path& to) {
  auto f = gguf::File::Open(path.string());
  ASSERT_TRUE(f.ok()) << f.status().message();
  gguf::Writer w;
  for (const auto& [key, value] : f->metadata()) w.Set(std::string(key), value);
  for (const gguf::TensorInfo& t : f->tensors()) {
    std::vector<float> v(static_cast<size_t>(t.n_elements));
    kernels::Dequantize(t.type, t.data, t.n_elements, v.data());
    w.AddTensor(std::string(t.name), kernels::GgmlType::kF32,
                std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
  }
  ASSERT_TRUE(w.WriteFile(to.string()).ok());
}

StatusOr<std::vector<float>> LogitsWith(const char* kernels_name, const fs::path& model) {
  if (Status s = kernels::SetBackend(kernels_name); !s.ok()) return s;
  auto engine = Engine::Load(model.string());
  if (!engine.ok()) return engine.status();
  auto logits = (*engine)->AllLogits({{1, 2, 3, 4, 5, 6, 7, 8, 9}});
  if (!logits.ok()) return logits.status();
  return (*logits)[0];
}

// Every quantized type the tool writes (at a shape of 256-multiples, for the K types), run as a model: with
// --kernels float (weights formed in registers from the blocks) the logits are bit for bit those
// of an F32 model of the dequantized weights; the int8 default stays within a few percent of them
// (its activations are rounded to int8).
TEST(RandomModelTypes, QuantizedModelsEqualTheirDequantizedCopies) {
  const fs::path dir = fs::temp_directory_path() / "sculpt-random-types";
  fs::create_directories(dir);
  for (const std::string type : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q5_k",
                                 "iq4_nl", "iq4_xs"}) {
    SCOPED_TRACE(type);
    const fs::path file = dir / (type + ".gguf"), copy = dir / (type + ".f32.gguf");
    std::string out;
    ASSERT_EQ(RunTool("--arch llada --type " + type + " --n-embd 256 --n-layer 1 --n-head 4 "
                      "--n-ff 512 --n-ctx 64 --seed 3 --vocab-from " + kVocab + " --out " +
                      file.string(), &out), 0) << out;
    WriteDequantizedCopy(file, copy);
    auto exact = LogitsWith("float", file), want = LogitsWith("float", copy);
    auto int8 = LogitsWith("int8", file);
    ASSERT_TRUE(exact.ok() && want.ok() && int8.ok());
    ASSERT_EQ(exact->size(), want->size());
    EXPECT_EQ(std::memcmp(exact->data(), want->data(), want->size() * 4), 0);
    double err = 0, norm = 0;
    for (size_t i = 0; i < want->size(); ++i) {
      err += ((*int8)[i] - (*want)[i]) * double((*int8)[i] - (*want)[i]);
      norm += (*want)[i] * double((*want)[i]);
    }
    EXPECT_GT(norm, 0.0);
    EXPECT_LT(std::sqrt(err / norm), 0.03);
  }
  fs::remove_all(dir);
}

TEST(RandomModelErrors, BadShapesAreRefusedWithoutAFile) {
  const fs::path dir = fs::temp_directory_path() / "sculpt-random-bad";
  fs::create_directories(dir);
  const fs::path file = dir / "bad.gguf";
  for (const std::string bad : {"--n-embd 64 --n-head 5", "--n-embd 64 --n-head 4 --n-head-kv 3",
                                "--n-embd 48 --n-head 2 --type q4_0"}) {
    std::string out;
    EXPECT_NE(RunTool(bad + " --n-layer 1 --vocab-from " + kVocab + " --out " + file.string(), &out), 0) << bad;
    EXPECT_NE(out.find("error"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(file)) << bad;
  }
  std::string out;
  EXPECT_NE(RunTool("--vocab-from /nonexistent.gguf --out " + file.string(), &out), 0);
  EXPECT_FALSE(fs::exists(file));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sculpt
