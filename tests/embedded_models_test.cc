// The shipped models (models/): they load, and greedy generation and infill give the ids recorded
// in tests/data/embedded_models.json (tools/eval/update_golden.py), on every thread count and SIMD
// target, so a kernel or sampler change that alters what users get from them is noticed.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "denoiser/denoiser.h"
#include "tests/test_util.h"

namespace sculpt {
namespace {

const std::filesystem::path kModels = std::filesystem::path(SCULPT_SOURCE_DIR) / "models";

nlohmann::json Golden() {
  return testing::ReadJson(std::filesystem::path(SCULPT_SOURCE_DIR) / "tests" / "data" / "embedded_models.json");
}

std::unique_ptr<Engine> LoadModel(const std::string& name, int threads) {
  EngineOptions eo;
  eo.threads = threads;
  auto e = Engine::Load((kModels / name).string(), eo);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

class EmbeddedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbeddedModel, IsTheDocumentedShapeAndSize) {
  const auto path = kModels / GetParam();
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_LE(std::filesystem::file_size(path), 25u << 20);
  auto info = InspectModel(path.string());
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->architecture, GetParam() == "sculpt-code-ar.gguf" ? "llama" : "llada");
  EXPECT_EQ(info->tokenizer_model, "gpt2");
  EXPECT_GE(info->tokenizer_vocab, 4096);
  auto e = LoadModel(GetParam(), 1);
  ASSERT_NE(e, nullptr);
  ASSERT_NE(e->tokenizer(), nullptr);
  const Vocab& v = e->tokenizer()->vocab();
  EXPECT_GE(v.fim_pre, 0);
  EXPECT_GE(v.fim_suf, 0);
  EXPECT_GE(v.fim_mid, 0);
  if (GetParam() != "sculpt-code-ar.gguf") {
    EXPECT_GE(e->config().mask_id, 0);
  }
}

TEST_P(EmbeddedModel, GreedyGenerationAndInfillMatchTheRecordedIds) {
  const nlohmann::json g = Golden().at(GetParam());
  for (const char* simd : {"best", "avx2", "scalar"}) {
    if (!SetSimd(simd).ok()) continue;  // not on this CPU
    for (int threads : {1, 2}) {
      if (std::string(simd) == "scalar" && threads == 2) continue;  // the slow target: once
      SCOPED_TRACE(std::string(simd) + ", threads " + std::to_string(threads));
      auto e = LoadModel(GetParam(), threads);
      ASSERT_NE(e, nullptr);
      GenerateRequest gr;
      gr.prompt = g["generate"]["prompt"].get<std::string>();
      gr.options.n_generate = g["generate"]["n"].get<int>();
      auto gen = e->Generate(gr);
      ASSERT_TRUE(gen.ok()) << gen.status().message();
      EXPECT_EQ(gen->result.ids, g["generate"]["ids"].get<std::vector<int32_t>>());
      EXPECT_EQ(gen->text, g["generate"]["text"].get<std::string>());

      InfillRequest ir;
      ir.segments = {g["infill"]["prefix"].get<std::string>(), g["infill"]["suffix"].get<std::string>()};
      ir.hole_tokens = {g["infill"]["hole_tokens"].get<int64_t>()};
      auto fill = e->Infill(ir);
      ASSERT_TRUE(fill.ok()) << fill.status().message();
      EXPECT_EQ(fill->result.ids, g["infill"]["ids"].get<std::vector<int32_t>>());
      ASSERT_EQ(fill->fills.size(), 1u);
      EXPECT_EQ(fill->fills[0], g["infill"]["infill"].get<std::string>());
    }
  }
  ASSERT_TRUE(SetSimd("best").ok());
}

INSTANTIATE_TEST_SUITE_P(Models, EmbeddedModel,
                         ::testing::Values("sculpt-code-diffusion.gguf", "sculpt-code-ar.gguf"),
                         [](const auto& info) {
                           return info.param == "sculpt-code-ar.gguf" ? std::string("Autoregressive")
                                                                      : std::string("Diffusion");
                         });

}  // namespace
}  // namespace sculpt
