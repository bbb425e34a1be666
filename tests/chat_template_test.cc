// Chat templates: detection from GGUF template text, per-architecture fallback, exact formats.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

namespace sculpt {
namespace {

TEST(ChatTemplate, DetectsFromTemplateText) {
  EXPECT_EQ(DetectChatTemplate("{{ '<|start_header_id|>' + role }}", "plain").kind,
            ChatTemplateKind::kLlama3);
  const ChatTemplate qwen =
      DetectChatTemplate("{% if ... %}<|im_start|>system\nYou are a helpful assistant.", "plain");
  EXPECT_EQ(qwen.kind, ChatTemplateKind::kChatml);
  EXPECT_EQ(qwen.default_system, "You are a helpful assistant.");
  EXPECT_TRUE(DetectChatTemplate("<|im_start|>{{ role }}", "plain").default_system.empty());
  EXPECT_EQ(DetectChatTemplate("", "chatml").kind, ChatTemplateKind::kChatml);
  EXPECT_EQ(DetectChatTemplate("{{ unknown jinja }}", "llama3").kind, ChatTemplateKind::kLlama3);
  EXPECT_EQ(DetectChatTemplate("", "no-such").kind, ChatTemplateKind::kPlain);
  EXPECT_FALSE(ChatTemplateByName("jinja").ok());
}

TEST(ChatTemplate, FormatsExactly) {
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "  Hi!\n"}};
  EXPECT_EQ(FormatChat(*ChatTemplateByName("llama3"), msgs, true),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(FormatChat(*ChatTemplateByName("chatml"), msgs, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi!\n<|im_end|>\n");
  ChatTemplate qwen{ChatTemplateKind::kChatml, "You are a helpful assistant."};
  const std::vector<ChatMessage> user_only = {{"user", "x"}};
  EXPECT_EQ(FormatChat(qwen, user_only, true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(FormatChat(*ChatTemplateByName("plain"), user_only, true), "user: x\n\nassistant: ");
}

}  // namespace
}  // namespace sculpt
