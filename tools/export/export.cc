// sculpt-export: writes a GGUF file from a trained tokenizer (tools/train/train_tokenizer.py) and,
// optionally, a weights dump (tools/train/train.py --export): the project's own GGUF writer, the
// metadata llama.cpp reads for the llada and llama architectures.
//
//   sculpt-export --tokenizer tokenizer.json --out vocab.gguf               (vocab-only file)
//   sculpt-export --tokenizer tokenizer.json --weights DIR --type f16 --out model.gguf
//
// DIR holds weights.json ({"arch", "name", "hparams": {...}, "tensors": [{"name", "shape",
// "offset"}]}) and weights.bin (little-endian float32, or float16 when weights.json says "dtype": "f16";
// PyTorch [rows, cols] order).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "base/status.h"
#include "denoiser/gguf/writer.h"
#include "kernels/quant.h"

namespace sculpt {
namespace {

using nlohmann::json;

StatusOr<json> ParseJson(const std::string& path) {
  SCULPT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("{}: not valid JSON", path);
  return j;
}

Status AddTokenizer(const json& t, gguf::Writer* w, std::deque<std::string>* pool) {
  if (!t.contains("tokens") || !t.contains("merges") || !t.contains("types") || !t.contains("special"))
    return InvalidArgument("tokenizer JSON needs tokens, types, merges and special");
  const auto tokens = t["tokens"].get<std::vector<std::string>>();
  const auto merges = t["merges"].get<std::vector<std::string>>();
  const auto types = t["types"].get<std::vector<int>>();
  if (types.size() != tokens.size()) return InvalidArgument("tokenizer JSON: {} types for {} tokens", types.size(), tokens.size());
  w->SetString("tokenizer.ggml.model", "gpt2");
  w->SetString("tokenizer.ggml.pre", t.value("pre", std::string("qwen2")));
  w->Set("tokenizer.ggml.tokens", gguf::Writer::StringArray(tokens, pool));
  gguf::Value tt;
  tt.type = gguf::ValueType::kArray;
  tt.elem_type = gguf::ValueType::kInt32;
  for (int v : types) {
    gguf::Value e;
    e.type = gguf::ValueType::kInt32;
    e.i = v;
    tt.items.push_back(e);
  }
  w->Set("tokenizer.ggml.token_type", tt);
  w->Set("tokenizer.ggml.merges", gguf::Writer::StringArray(merges, pool));
  const json& sp = t["special"];
  auto id = [&](const char* name) -> StatusOr<uint32_t> {
    if (!sp.contains(name)) return InvalidArgument("tokenizer JSON: no special token {}", name);
    return sp[name].get<uint32_t>();
  };
  SCULPT_ASSIGN_OR_RETURN(uint32_t eot, id("<|endoftext|>"));
  SCULPT_ASSIGN_OR_RETURN(uint32_t mask, id("<|mask|>"));
  SCULPT_ASSIGN_OR_RETURN(uint32_t pre, id("<|fim_prefix|>"));
  SCULPT_ASSIGN_OR_RETURN(uint32_t suf, id("<|fim_suffix|>"));
  SCULPT_ASSIGN_OR_RETURN(uint32_t mid, id("<|fim_middle|>"));
  w->SetU32("tokenizer.ggml.bos_token_id", eot);
  w->SetU32("tokenizer.ggml.eos_token_id", eot);
  w->SetU32("tokenizer.ggml.padding_token_id", eot);
  w->SetU32("tokenizer.ggml.mask_token_id", mask);
  w->SetU32("tokenizer.ggml.fim_pre_token_id", pre);
  w->SetU32("tokenizer.ggml.fim_suf_token_id", suf);
  w->SetU32("tokenizer.ggml.fim_mid_token_id", mid);
  w->SetBool("tokenizer.ggml.add_bos_token", false);
  w->SetBool("tokenizer.ggml.add_eos_token", false);
  return Status::Ok();
}

Status AddWeights(const json& meta, const std::string& dir, const std::string& type, gguf::Writer* w) {
  SCULPT_ASSIGN_OR_RETURN(std::string blob, ReadFile(dir + "/weights.bin"));
  const std::string arch = meta.value("arch", std::string());
  if (arch != "llada" && arch != "llama") return InvalidArgument("weights.json: arch must be llada or llama, not '{}'", arch);
  const json& h = meta["hparams"];
  for (const char* k : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                        "attention.head_count", "attention.head_count_kv"}) {
    if (!h.contains(k)) return InvalidArgument("weights.json: hparams.{} is missing", k);
    w->SetU32(arch + "." + k, h[k].get<uint32_t>());
  }
  w->SetU32(arch + ".vocab_size", h.value("vocab_size", 0u));
  w->SetU32(arch + ".rope.dimension_count", h["embedding_length"].get<uint32_t>() / h["attention.head_count"].get<uint32_t>());
  w->SetF32(arch + ".rope.freq_base", h.value("rope.freq_base", 10000.0f));
  w->SetF32(arch + ".attention.layer_norm_rms_epsilon", h.value("attention.layer_norm_rms_epsilon", 1e-5f));
  if (arch == "llada") w->SetBool("diffusion.shift_logits", h.value("shift_logits", false));

  kernels::GgmlType matrix_type;
  if (type == "f32") matrix_type = kernels::GgmlType::kF32;
  else if (type == "f16") matrix_type = kernels::GgmlType::kF16;
  else return InvalidArgument("--type must be f32 or f16, not '{}'", type);

  const std::string dtype = meta.value("dtype", std::string("f32"));
  if (dtype != "f32" && dtype != "f16")
    return InvalidArgument("weights.json: dtype must be f32 or f16, not '{}'", dtype);
  const uint64_t esize = dtype == "f16" ? 2 : 4;
  for (const json& t : meta["tensors"]) {
    const std::string tname = t["name"].get<std::string>();
    const auto shape = t["shape"].get<std::vector<int64_t>>();
    const uint64_t offset = t["offset"].get<uint64_t>();
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (shape.empty() || shape.size() > 2 || n <= 0 || offset % esize != 0 ||
        offset + static_cast<uint64_t>(n) * esize > blob.size())
      return InvalidArgument("weights.json: tensor {} has a bad shape or offset", tname);
    std::vector<int64_t> ne(shape.rbegin(), shape.rend());  // ggml: contiguous dimension first
    const bool keep_f32 = shape.size() == 1 || matrix_type == kernels::GgmlType::kF32;
    // Source elements as float32 and as float16 (an f16 source converts to f16 exactly).
    std::vector<float> f32(static_cast<size_t>(n));
    std::vector<uint16_t> half(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (esize == 2) {
        uint16_t h;
        std::memcpy(&h, blob.data() + offset + 2 * i, 2);
        half[i] = h;
        f32[i] = kernels::HalfToFloat(h);
      } else {
        std::memcpy(&f32[i], blob.data() + offset + 4 * i, 4);
        half[i] = kernels::FloatToHalf(f32[i]);
      }
    }
    if (keep_f32) {
      w->AddTensor(tname, kernels::GgmlType::kF32, ne,
                   {reinterpret_cast<const uint8_t*>(f32.data()), f32.size() * 4});
    } else {
      w->AddTensor(tname, kernels::GgmlType::kF16, ne,
                   {reinterpret_cast<const uint8_t*>(half.data()), half.size() * 2});
    }
  }
  return Status::Ok();
}

Status Run(const std::string& tokenizer, const std::string& weights, const std::string& type,
           std::string name, const std::string& license, const std::string& out) {
  SCULPT_ASSIGN_OR_RETURN(json t, ParseJson(tokenizer));
  json meta;
  if (!weights.empty()) {
    SCULPT_ASSIGN_OR_RETURN(meta, ParseJson(weights + "/weights.json"));
  }
  const std::string arch = meta.is_object() ? meta.value("arch", std::string()) : "llama";
  if (name.empty()) name = meta.is_object() ? meta.value("name", arch) : "sculpt-vocab";
  gguf::Writer w;
  std::deque<std::string> pool;
  w.SetString("general.architecture", arch);
  w.SetString("general.name", name);
  if (!license.empty()) w.SetString("general.license", license);
  SCULPT_RETURN_IF_ERROR(AddTokenizer(t, &w, &pool));
  if (!weights.empty()) SCULPT_RETURN_IF_ERROR(AddWeights(meta, weights, type, &w));
  return w.WriteFile(out);
}

}  // namespace
}  // namespace sculpt

int main(int argc, char** argv) {
  CLI::App app{"Write a GGUF file from a trained tokenizer and (optionally) exported weights"};
  std::string tokenizer, weights, type = "f16", name, license, out;
  app.add_option("--tokenizer", tokenizer, "tokenizer.json from train_tokenizer.py")->required();
  app.add_option("--weights", weights, "Directory with weights.json and weights.bin (train.py --export)");
  app.add_option("--type", type, "Matrix type: f16 or f32 (norms stay f32)");
  app.add_option("--name", name, "general.name (default: from weights.json)");
  app.add_option("--license", license, "general.license");
  app.add_option("--out", out, "Output GGUF file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const sculpt::Status st = sculpt::Run(tokenizer, weights, type, name, license, out);
  if (!st.ok()) {
    std::fprintf(stderr, "sculpt-export: error: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
