// tools/random_model.cc (build/sculpt-random-model): the random-weight GGUFs that speed
// measurements on larger shapes use load with exactly the requested shape and type, run, are
// reproducible from their seed, and bad shapes are refused without leaving a file.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/engine.h"
#include "gtest/gtest.h"

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
  const std::string want = type == "q8_0" ? "Q8_0" : type == "q4_0" ? "Q4_0" : type == "f16" ? "F16" : "F32";
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
                                            ::testing::Values("f32", "f16", "q8_0", "q4_0")));

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
