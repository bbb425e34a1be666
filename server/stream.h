// Streaming helpers: the newly final text of a generation, step by step, and the canvas as text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace sculpt::server {

// Newly final text of the generated area, in order, from the step events: the longest prefix of
// the area without a mask, decoded incrementally; stop strings cut it, and text that could still
// become the start of a stop string is held back.
class Deltas {
 public:
  Deltas(const Engine& e, int64_t area, bool eog_ends, std::vector<std::string> stop)
      : engine_(e), mask_(e.config().mask_id), ids_(static_cast<size_t>(area), e.config().mask_id),
        eog_ends_(eog_ends), decoder_(*e.tokenizer()), stop_(std::move(stop)) {
    for (const std::string& s : stop_) hold_ = std::max(hold_, s.size() - 1);
  }

  void Apply(const StepEvent& e) {
    for (const auto& [idx, tok] : e.committed) {
      if (idx >= static_cast<int64_t>(ids_.size())) ids_.resize(static_cast<size_t>(idx) + 1, mask_);
      ids_[static_cast<size_t>(idx)] = tok;
    }
    for (int64_t idx : e.remasked) ids_[static_cast<size_t>(idx)] = mask_;
    while (!ended_ && final_ < ids_.size() && ids_[final_] != mask_) {
      const int32_t id = ids_[final_++];
      if (engine_.config().IsEog(id)) {
        if (eog_ends_) ended_ = true;
        continue;
      }
      text_ += decoder_.Push(id);
    }
    CheckStop();
  }

  // Text to send now (held back: a possible stop-string start, an unfinished character).
  std::string Take(bool final) {
    size_t upto = text_.size();
    if (!final && !stopped_) {
      upto -= std::min(upto, hold_);
      while (upto > sent_ && upto < text_.size() && (static_cast<unsigned char>(text_[upto]) & 0xC0) == 0x80) --upto;
    }
    if (upto <= sent_) return {};
    std::string d = text_.substr(sent_, upto - sent_);
    sent_ = upto;
    return d;
  }

  // The final text (from the response) replaces what the steps built, when it extends it.
  void Finish(const std::string& text) {
    if (stopped_) return;
    if (text.compare(0, sent_, text_, 0, sent_) == 0) text_ = text;
    CheckStop();
  }

  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }
  size_t sent() const { return sent_; }
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  void CheckStop() {
    if (stopped_) return;
    size_t cut = std::string::npos;
    for (const std::string& s : stop_) cut = std::min(cut, text_.find(s));
    if (cut != std::string::npos && cut >= sent_) {
      text_.resize(cut);
      stopped_ = true;
    }
  }

  const Engine& engine_;
  int32_t mask_;
  std::vector<int32_t> ids_;
  bool eog_ends_;
  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  size_t hold_ = 0, final_ = 0, sent_ = 0;
  std::string text_;
  bool ended_ = false, stopped_ = false;
};

// The generated area as text, masks drawn as U+2591.
std::string Snapshot(const Engine& e, const std::vector<int32_t>& ids);

}  // namespace sculpt::server
