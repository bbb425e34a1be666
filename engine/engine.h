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
#include "diffusion/refinement.h"
#include "engine/batcher.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace sculpt {

struct EngineOptions {
  int threads = 0;      // 0 = all hardware threads
  ProgressFn progress = nullptr;  // optional, for loads that take a while
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

struct GenerateRequest {
  std::string prompt;                  // text; tokenized with BOS as the vocabulary asks
  std::vector<int32_t> prompt_tokens;  // used as given (no BOS) when non-empty
  bool chat = false;                   // wrap the prompt as a user turn of the chat template
  std::string chat_template;           // override: llama3 | chatml | plain
  GenerationOptions options;
};

struct GenerateResponse {
  std::vector<int32_t> prompt_ids;
  GenerationResult result;  // result.ids: the generated area, full length (EOS included)
  std::string text;         // the generated text, cut at the first end-of-generation token
  bool diffusion = true;    // false: the autoregressive path ran
};

// Text with holes: segments[0] HOLE segments[1] HOLE ... segments[k]. Each hole is filled with
// hole_tokens[i] tokens (0 = auto: sizes kAutoHoleSizes are tried and the one whose filled tokens
// have the highest mean log-confidence wins). End-of-generation tokens inside a hole count as
// empty, so a hole may come back shorter than its size.
struct InfillRequest {
  std::vector<std::string> segments;  // >= 2
  std::vector<int64_t> hole_tokens;   // one per hole (or one value for all); 0 = auto
  GenerationOptions options;          // n_generate is ignored; steps default to the hole total
};
inline constexpr int64_t kAutoHoleSizes[] = {4, 8, 16, 32, 64};

struct InfillResponse {
  std::vector<std::string> fills;     // the text of each hole
  std::string text;                   // segments and fills joined
  std::vector<int64_t> hole_tokens;   // sizes used
  GenerationResult result;            // of the chosen size
  double mean_log_confidence = 0.0;
  int64_t sizes_tried = 1;
  bool diffusion = true;
};

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Load(const std::string& path,
                                                const EngineOptions& options = {});

  const ModelConfig& config() const { return denoiser_->config(); }
  Denoiser& denoiser() { return *denoiser_; }
  // Null when the file carries no tokenizer metadata.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }

  // From now on Generate, Infill and AllLogits may be called from several threads at once: their
  // denoiser calls are merged step by step into shared batches (engine/batcher.h), and each
  // request's result stays bitwise what it is alone.
  void EnableConcurrentRequests(std::chrono::microseconds window = std::chrono::microseconds(3000));
  // Null until EnableConcurrentRequests().
  const StepBatcher* batcher() const { return batcher_.get(); }

  // Diffusion sampling for diffusion models, token-by-token decoding for causal ones.
  StatusOr<GenerateResponse> Generate(const GenerateRequest& request,
                                      const StepCallback& callback = nullptr);
  StatusOr<InfillResponse> Infill(const InfillRequest& request,
                                  const StepCallback& callback = nullptr);

  // Decodes generated ids up to (not including) the first end-of-generation token, as valid
  // UTF-8 (bytes that never form a character become U+FFFD).
  StatusOr<std::string> TextUntilEog(std::span<const int32_t> ids) const;

  // Raw (unshifted) logits of every position of each sequence, in the model's native attention
  // mode (bidirectional for diffusion models, causal for autoregressive ones), run as one batch.
  // Result s is [len(seqs[s]), n_vocab], row-major.
  StatusOr<std::vector<std::vector<float>>> AllLogits(
      const std::vector<std::vector<int32_t>>& seqs);

 private:
  StatusOr<InfillResponse> InfillOnce(const InfillRequest& request,
                                      const std::vector<int64_t>& sizes, const StepCallback& cb);
  StatusOr<InfillResponse> InfillAutoregressive(const InfillRequest& request, const StepCallback& cb);
  Engine(std::unique_ptr<Denoiser> d, std::unique_ptr<Tokenizer> t)
      : denoiser_(std::move(d)), tokenizer_(std::move(t)) {}
  std::unique_ptr<Denoiser> denoiser_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<StepBatcher> batcher_;
};

}  // namespace sculpt
