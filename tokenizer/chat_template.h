// Chat templates of the models Sculpt targets, as small formatters (no Jinja engine):
//   llama3  <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>   (LLaDA, LLaMA-3)
//   chatml  <|im_start|>ROLE\nCONTENT<|im_end|>\n                           (Dream, Qwen2)
//   plain   ROLE: CONTENT\n\n                                              (anything else)
// The template is detected from tokenizer.chat_template; a model without one uses its
// architecture's default; --chat-template NAME overrides both.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sculpt {

enum class ChatTemplateKind { kLlama3, kChatml, kPlain };

struct ChatTemplate {
  ChatTemplateKind kind = ChatTemplateKind::kPlain;
  // Inserted as a system message when the conversation has none (Qwen-style ChatML templates).
  std::string default_system;
  std::string_view name() const;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// "llama3", "chatml" or "plain".
StatusOr<ChatTemplate> ChatTemplateByName(std::string_view name);
// From the GGUF template text; `fallback` (a name) when the text is empty or not recognised.
ChatTemplate DetectChatTemplate(std::string_view template_text, std::string_view fallback);

// The prompt text for `messages`, ending with the header of the assistant's turn when
// add_assistant. Special tokens appear as text: tokenize it with parse_special on.
std::string FormatChat(const ChatTemplate& t, std::span<const ChatMessage> messages,
                       bool add_assistant);

}  // namespace sculpt
