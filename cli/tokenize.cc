// sculpt tokenize / detokenize: the tokenizer from the command line, in llama.cpp's test formats.
#include <cstdio>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "cli/common.h"
#include "engine/engine.h"

namespace sculpt::cli {

namespace {

struct TokenizeOptions {
  std::string model, text, file, cases, chat_template;
  bool add_special = false, parse_special = false, chat = false;
  CommonOptions common;
};

// llama.cpp's .inp format: cases separated (and terminated) by "\n__ggml_vocab_test__\n".
std::vector<std::string> SplitCases(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (size_t found; (found = text.find(sep, pos)) != std::string::npos; pos = found + sep.size()) {
    cases.push_back(text.substr(pos, found - pos));
  }
  if (pos < text.size()) cases.push_back(text.substr(pos));  // a last case without separator
  return cases;
}

Status RunTokenize(const TokenizeOptions& o) {
  const int sources = !o.text.empty() + !o.file.empty() + !o.cases.empty();
  if (sources != 1) return InvalidArgument("give exactly one of --text, --file, --cases");
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, LoadTokenizer(o.model));
  if (!o.cases.empty()) {
    SCULPT_ASSIGN_OR_RETURN(std::string all, ReadFile(o.cases));
    std::string out;
    for (const std::string& c : SplitCases(all)) {
      for (int32_t id : tok->Encode(c, o.add_special, o.parse_special)) out += " " + std::to_string(id);
      out += "\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return Status::Ok();
  }
  std::string text = o.text;
  if (!o.file.empty()) {
    SCULPT_ASSIGN_OR_RETURN(text, ReadFile(o.file));
  }
  bool add_special = o.add_special, parse_special = o.parse_special;
  if (o.chat) {
    SCULPT_ASSIGN_OR_RETURN(ChatTemplate t, ResolveChatTemplate(tok->vocab(), o.chat_template));
    const ChatMessage user{"user", text};
    text = FormatChat(t, {&user, 1}, /*add_assistant=*/true);
    add_special = parse_special = true;
  } else if (!o.chat_template.empty()) {
    return InvalidArgument("--chat-template needs --chat");
  }
  std::string out;
  for (int32_t id : tok->Encode(text, add_special, parse_special)) {
    out += (out.empty() ? "" : " ") + std::to_string(id);
  }
  std::printf("%s\n", out.c_str());
  return Status::Ok();
}

struct DetokenizeOptions {
  std::string model, ids;
  bool special = false;
  CommonOptions common;
};

Status RunDetokenize(const DetokenizeOptions& o) {
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, LoadTokenizer(o.model));
  SCULPT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(o.ids));
  SCULPT_ASSIGN_OR_RETURN(std::string text, tok->Decode(ids, o.special));
  std::fwrite(text.data(), 1, text.size(), stdout);
  return Status::Ok();
}

}  // namespace

void RegisterTokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  auto o = std::make_shared<TokenizeOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file (a vocab-only file is enough)")->required();
  cmd->add_option("--text", o->text, "Text to tokenize");
  cmd->add_option("--file", o->file, "File whose content to tokenize");
  cmd->add_option("--cases", o->cases,
                  "llama.cpp .inp file: prints one line of ids per case, in the .out format");
  cmd->add_flag("--add-special", o->add_special, "Add BOS/EOS as the vocabulary asks");
  cmd->add_flag("--parse-special", o->parse_special, "Turn special-token text into its ids");
  cmd->add_flag("--chat", o->chat, "Wrap the text as a user turn in the chat template");
  cmd->add_option("--chat-template", o->chat_template, "llama3, chatml or plain (with --chat)");
  AddCommonOptions(cmd, &o->common);
  cmd->callback(Runner([o] { return RunTokenize(*o); }));

  auto* de = app.add_subcommand("detokenize", "Print the text of token ids (exact bytes)");
  auto d = std::make_shared<DetokenizeOptions>();
  de->add_option("-m,--model", d->model, "GGUF file (a vocab-only file is enough)")->required();
  de->add_option("--ids", d->ids, "Token ids \"ID ID ...\"")->required();
  de->add_flag("--special", d->special, "Render control tokens as their text");
  AddCommonOptions(de, &d->common);
  de->callback(Runner([d] { return RunDetokenize(*d); }));
}

}  // namespace sculpt::cli
