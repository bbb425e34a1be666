// Engine: a loaded model plus the process-wide defaults; the one API that the command line and
// the server use. Later issues add tokenization, Generate, Infill and Edit here.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "denoiser/denoiser.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace sculpt {

struct EngineOptions {
  int threads = 0;      // 0 = all hardware threads
  ProgressFn progress;  // optional, for loads that take a while
};

// What `sculpt info` shows about a GGUF file.
struct ModelInfo {
  std::string path;
  uint64_t file_size = 0;
  uint32_t gguf_version = 0;
  size_t n_metadata = 0;
  size_t n_tensors = 0;
  std::map<std::string, int> tensor_types;  // type name -> count
  uint64_t n_parameters = 0;
  bool has_model = false;  // false for vocab-only files
  std::string architecture;
  std::string tokenizer_model;  // tokenizer.ggml.model
  int64_t tokenizer_vocab = 0;  // entries of tokenizer.ggml.tokens
  ModelConfig config;           // valid when has_model
  bool tied_output = false;
};

// Parses and validates a file without running it (works on vocab-only files too).
StatusOr<ModelInfo> InspectModel(const std::string& path);

// A tokenizer alone, from any GGUF with tokenizer metadata (vocab-only files too).
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path);

// The chat template for a vocabulary: `override_name` when given, else the one its
// tokenizer.chat_template names, else its architecture's default.
StatusOr<ChatTemplate> ResolveChatTemplate(const Vocab& vocab, std::string_view override_name);

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Load(const std::string& path,
                                                const EngineOptions& options = {});

  const ModelConfig& config() const { return denoiser_->config(); }
  Denoiser& denoiser() { return *denoiser_; }
  // Null when the file carries no tokenizer metadata.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }

  // Raw (unshifted) logits of every position of each sequence, in the model's native attention
  // mode (bidirectional for diffusion models, causal for autoregressive ones), run as one batch.
  // Result s is [len(seqs[s]), n_vocab], row-major.
  StatusOr<std::vector<std::vector<float>>> AllLogits(
      const std::vector<std::vector<int32_t>>& seqs);

 private:
  Engine(std::unique_ptr<Denoiser> d, std::unique_ptr<Tokenizer> t)
      : denoiser_(std::move(d)), tokenizer_(std::move(t)) {}
  std::unique_ptr<Denoiser> denoiser_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace sculpt
