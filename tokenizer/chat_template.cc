#include "tokenizer/chat_template.h"

namespace sculpt {

namespace {
constexpr std::string_view kQwenDefaultSystem = "You are a helpful assistant.";

std::string_view Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}
}  // namespace

std::string_view ChatTemplate::name() const {
  switch (kind) {
    case ChatTemplateKind::kLlama3: return "llama3";
    case ChatTemplateKind::kChatml: return "chatml";
    case ChatTemplateKind::kPlain: return "plain";
  }
  return "plain";
}

StatusOr<ChatTemplate> ChatTemplateByName(std::string_view name) {
  if (name == "llama3") return ChatTemplate{ChatTemplateKind::kLlama3, {}};
  if (name == "chatml") return ChatTemplate{ChatTemplateKind::kChatml, {}};
  if (name == "plain") return ChatTemplate{ChatTemplateKind::kPlain, {}};
  return InvalidArgument("unknown chat template '{}' (known: llama3, chatml, plain)", Printable(name));
}

ChatTemplate DetectChatTemplate(std::string_view text, std::string_view fallback) {
  if (text.find("<|start_header_id|>") != std::string_view::npos) {
    return {ChatTemplateKind::kLlama3, {}};
  }
  if (text.find("<|im_start|>") != std::string_view::npos) {
    ChatTemplate t{ChatTemplateKind::kChatml, {}};
    if (text.find(kQwenDefaultSystem) != std::string_view::npos) {
      t.default_system = std::string(kQwenDefaultSystem);
    }
    return t;
  }
  auto f = ChatTemplateByName(fallback);
  return f.ok() ? *f : ChatTemplate{};
}

std::string FormatChat(const ChatTemplate& t, std::span<const ChatMessage> messages,
                       bool add_assistant) {
  std::string out;
  const bool needs_system = !t.default_system.empty() &&
                            (messages.empty() || messages.front().role != "system");
  switch (t.kind) {
    case ChatTemplateKind::kLlama3:
      for (const ChatMessage& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
        out += Trim(m.content);
        out += "<|eot_id|>";
      }
      if (add_assistant) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplateKind::kChatml:
      if (needs_system) out += "<|im_start|>system\n" + t.default_system + "<|im_end|>\n";
      for (const ChatMessage& m : messages) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_assistant) out += "<|im_start|>assistant\n";
      break;
    case ChatTemplateKind::kPlain:
      for (const ChatMessage& m : messages) out += m.role + ": " + m.content + "\n\n";
      if (add_assistant) out += "assistant: ";
      break;
  }
  return out;
}

}  // namespace sculpt
