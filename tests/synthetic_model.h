// A tiny model whose logits a test designs. Every layer's weights are zero, so the hidden state at
// a position is its token's embedding (normalised); output row v decides logit v from it.
#pragma once

#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "denoiser/gguf/writer.h"

namespace sculpt::testing {

struct SyntheticSpec {
  std::string arch = "llada";
  int n_vocab = 16, n_embd = 8, mask = 15, eos = 14, bos = 13;
  std::function<float(int token, int d)> embedding = [](int, int) { return 1.0f; };
  std::function<float(int v, int d)> output = [](int, int) { return 0.0f; };
};

// Writes the model (with a byte-free toy gpt2 vocabulary: tokens "t0".."tN") to `path`.
inline void WriteSynthetic(const SyntheticSpec& s, const std::filesystem::path& path) {
  gguf::Writer w;
  const std::string a = s.arch;
  w.SetString("general.architecture", a);
  w.SetU32(a + ".context_length", 256);
  w.SetU32(a + ".embedding_length", s.n_embd);
  w.SetU32(a + ".block_count", 1);
  w.SetU32(a + ".feed_forward_length", s.n_embd);
  w.SetU32(a + ".attention.head_count", 2);
  w.SetU32(a + ".attention.head_count_kv", 2);
  w.SetF32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "gpt-2");
  std::deque<std::string> pool;
  std::vector<std::string> tokens;
  for (int t = 0; t < s.n_vocab; ++t) tokens.push_back("t" + std::to_string(t));
  w.Set("tokenizer.ggml.tokens", gguf::Writer::StringArray(tokens, &pool));
  w.Set("tokenizer.ggml.merges", gguf::Writer::StringArray({}, &pool));
  w.SetU32("tokenizer.ggml.mask_token_id", static_cast<uint32_t>(s.mask));
  w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(s.eos));
  w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(s.bos));
  w.SetBool("tokenizer.ggml.add_bos_token", false);
  auto tensor = [&](const std::string& name, std::vector<int64_t> ne, const std::vector<float>& v) {
    w.AddTensor(name, kernels::GgmlType::kF32, std::move(ne),
                {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
  };
  const int E = s.n_embd, V = s.n_vocab;
  std::vector<float> embd(static_cast<size_t>(V * E)), out(static_cast<size_t>(V * E));
  for (int t = 0; t < V; ++t)
    for (int d = 0; d < E; ++d) {
      embd[t * E + d] = s.embedding(t, d);
      out[t * E + d] = s.output(t, d);
    }
  const std::vector<float> ones(static_cast<size_t>(E), 1.0f), zeros(static_cast<size_t>(E * E), 0.0f);
  tensor("token_embd.weight", {E, V}, embd);
  tensor("blk.0.attn_norm.weight", {E}, ones);
  for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
    tensor(std::string("blk.0.") + m + ".weight", {E, E}, zeros);
  }
  tensor("blk.0.ffn_norm.weight", {E}, ones);
  tensor("output_norm.weight", {E}, ones);
  tensor("output.weight", {E, V}, out);
  const Status st = w.WriteFile(path.string());
  if (!st.ok()) throw std::runtime_error(st.message());
}

}  // namespace sculpt::testing
