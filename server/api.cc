#include "server/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace sculpt::server {

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

ApiError Bad(std::string param, std::string message) {
  return ApiError{400, std::move(message), std::move(param)};
}

json ErrorJson(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

ApiError FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return ApiError{400, s.message()};
    case StatusCode::kNotFound:
      return ApiError{404, s.message(), "", "not_found_error"};
    default:
      return ApiError{500, s.message(), "", "server_error"};
  }
}

#define API_TRY(expr)                \
  do {                               \
    if (MaybeError e_ = (expr)) return e_; \
  } while (0)

// Typed field readers: absent (or null) leaves *out unchanged; a wrong type or range is a 400.

const json* Field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

namespace {

MaybeError GetInt(const json& body, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  int64_t x;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float() && v->get<double>() == static_cast<double>(static_cast<int64_t>(v->get<double>()))) {
    x = static_cast<int64_t>(v->get<double>());
  } else {
    return Bad(name, fmt::format("'{}' must be an integer", name));
  }
  if (x < lo || x > hi) return Bad(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x));
  *out = x;
  return std::nullopt;
}

MaybeError GetNumber(const json& body, const char* name, double lo, double hi, double* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) return Bad(name, fmt::format("'{}' must be a number", name));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) return Bad(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, x));
  *out = x;
  return std::nullopt;
}

}  // namespace

MaybeError GetBool(const json& body, const char* name, bool* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return Bad(name, fmt::format("'{}' must be true or false", name));
  *out = v->get<bool>();
  return std::nullopt;
}

MaybeError GetString(const json& body, const char* name, std::string* out) {
  const json* v = Field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) return Bad(name, fmt::format("'{}' must be a string", name));
  *out = v->get<std::string>();
  return std::nullopt;
}

namespace {

// "stop": a string or an array of at most 4 non-empty strings.
MaybeError GetStop(const json& body, std::vector<std::string>* out) {
  const json* v = Field(body, "stop");
  if (!v) return std::nullopt;
  if (v->is_string()) {
    if (!v->get<std::string>().empty()) out->push_back(v->get<std::string>());
    return std::nullopt;
  }
  if (!v->is_array() || v->size() > 4) return Bad("stop", "'stop' must be a string or an array of up to 4 strings");
  for (const json& s : *v) {
    if (!s.is_string()) return Bad("stop", "'stop' must be a string or an array of up to 4 strings");
    if (!s.get<std::string>().empty()) out->push_back(s.get<std::string>());
  }
  return std::nullopt;
}

MaybeError CheckModel(const json& body, const ParseContext& ctx) {
  std::string model;
  API_TRY(GetString(body, "model", &model));
  if (!model.empty() && model != ctx.model_id) {
    ApiError e{404, fmt::format("model '{}' does not exist; this server serves '{}'", model, ctx.model_id), "model",
               "invalid_request_error", "model_not_found"};
    return e;
  }
  return std::nullopt;
}

MaybeError ParseOptions(const json& body, const ParseContext& ctx, GenerationOptions* o) {
  const ModelConfig& c = ctx.engine.config();
  API_TRY(GetNumber(body, "temperature", 0.0, 2.0, &o->sampler.temperature));
  API_TRY(GetNumber(body, "top_p", 0.0, 1.0, &o->sampler.top_p));
  if (o->sampler.top_p <= 0.0) return Bad("top_p", "'top_p' must be greater than 0");
  API_TRY(GetInt(body, "top_k", 0, c.n_vocab, &o->sampler.top_k));
  int64_t seed = 0;
  API_TRY(GetInt(body, "seed", 0, INT64_MAX, &seed));
  o->seed = static_cast<uint64_t>(seed);
  API_TRY(GetInt(body, "steps", 1, ctx.max_steps, &o->steps));
  API_TRY(GetInt(body, "block_length", 1, ctx.canvas_limit, &o->block_length));
  API_TRY(GetString(body, "algorithm", &o->algorithm));
  API_TRY(GetNumber(body, "alg_temp", 0.0, 1e6, &o->alg_temp));
  API_TRY(GetNumber(body, "eps", 0.0, 1.0, &o->eps));
  API_TRY(GetNumber(body, "threshold", 0.0, 1.0, &o->threshold));
  API_TRY(GetNumber(body, "factor", 0.0, 1e6, &o->factor));
  API_TRY(GetNumber(body, "eb_gamma", 0.0, 1e6, &o->eb_gamma));
  API_TRY(GetNumber(body, "cfg_scale", 0.0, 1e3, &o->cfg_scale));
  API_TRY(GetBool(body, "suppress_eos", &o->suppress_eos));
  API_TRY(GetBool(body, "no_eos_confidence", &o->no_eos_confidence));
  API_TRY(GetBool(body, "early_stop", &o->early_stop));
  API_TRY(GetBool(body, "block_causal", &o->block_causal));
  std::string schedule, cache, remask;
  API_TRY(GetString(body, "schedule", &schedule));
  if (schedule == "linear") o->schedule = TransferSchedule::kLinear;
  else if (schedule == "timestep") o->schedule = TransferSchedule::kTimestep;
  else if (!schedule.empty()) return Bad("schedule", "'schedule' must be \"linear\" or \"timestep\"");
  API_TRY(GetString(body, "cache", &cache));
  if (!cache.empty()) {
    auto m = CacheModeByName(cache);
    if (!m.ok()) return Bad("cache", m.status().message());
    o->cache = *m;
  }
  API_TRY(GetString(body, "remask", &remask));
  if (!remask.empty()) {
    const auto colon = remask.find(':');
    const std::string name = remask.substr(0, colon);
    o->remask_eta = 0.1;
    if (colon != std::string::npos) {
      char* end = nullptr;
      const std::string num = remask.substr(colon + 1);
      o->remask_eta = std::strtod(num.c_str(), &end);
      if (num.empty() || *end != '\0') return Bad("remask", "'remask' must be cap|rescale|conf[:ETA]");
    }
    if (name == "cap") o->remask = RemaskStrategy::kCap;
    else if (name == "rescale") o->remask = RemaskStrategy::kRescale;
    else if (name == "conf") o->remask = RemaskStrategy::kConf;
    else return Bad("remask", "'remask' must be cap|rescale|conf[:ETA]");
  }
  const Status v = o->Validate();
  if (!v.ok()) return Bad("", v.message());
  return std::nullopt;
}

// Prompt: a string, an array of one string, or an array of token ids.
MaybeError ReadPrompt(const json& body, const Engine& engine, GenerateRequest* g) {
  const json* p = Field(body, "prompt");
  if (!p) return Bad("prompt", "'prompt' is required");
  if (p->is_string()) {
    g->prompt = p->get<std::string>();
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    g->prompt = (*p)[0].get<std::string>();
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& x) { return x.is_number_integer(); })) {
    for (const json& x : *p) {
      const int64_t id = x.get<int64_t>();
      if (id < 0 || id >= engine.config().n_vocab) return Bad("prompt", fmt::format("token id {} is outside the vocabulary", id));
      g->prompt_tokens.push_back(static_cast<int32_t>(id));
    }
  } else {
    return Bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  if (g->prompt.empty() && g->prompt_tokens.empty()) return Bad("prompt", "'prompt' is empty");
  return std::nullopt;
}

// The fields every generation route shares: n (only 1), stream, stop, and the sampling and
// diffusion options.
MaybeError ReadShared(const json& body, const ParseContext& ctx, Job* job, GenerationOptions* o) {
  int64_t n = 1;
  API_TRY(GetInt(body, "n", 1, 1, &n));
  API_TRY(GetBool(body, "stream", &job->stream));
  API_TRY(GetStop(body, &job->stop));
  return ParseOptions(body, ctx, o);
}

MaybeError ParseCompletion(const json& body, const ParseContext& ctx, Job* job) {
  API_TRY(CheckModel(body, ctx));
  API_TRY(ReadPrompt(body, ctx.engine, &job->gen));
  int64_t max_tokens = 16;
  API_TRY(GetInt(body, "max_tokens", 1, ctx.canvas_limit, &max_tokens));
  GenerationOptions o;
  API_TRY(ReadShared(body, ctx, job, &o));
  o.n_generate = max_tokens;
  std::string suffix;
  API_TRY(GetString(body, "suffix", &suffix));
  if (Field(body, "suffix")) {  // insertion: the text between prompt and suffix
    if (!job->gen.prompt_tokens.empty()) return Bad("suffix", "'suffix' needs a text prompt");
    job->infill = true;
    job->fill.segments = {job->gen.prompt, suffix};
    job->fill.hole_tokens = {max_tokens};
    job->fill.options = o;
    return std::nullopt;
  }
  job->gen.options = o;
  return std::nullopt;
}

// "messages": system/developer/user/assistant turns, content a string or text parts.
MaybeError ReadMessages(const json& body, std::vector<ChatMessage>* messages) {
  const json* msgs = Field(body, "messages");
  if (!msgs) return Bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) return Bad("messages", "'messages' must be a non-empty array");
  for (const json& m : *msgs) {
    if (!m.is_object()) return Bad("messages", "each message must be an object with 'role' and 'content'");
    ChatMessage cm;
    API_TRY(GetString(m, "role", &cm.role));
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" && cm.role != "developer") {
      return Bad("messages", fmt::format("unknown role '{}' (system, developer, user, assistant)", cm.role));
    }
    if (cm.role == "developer") cm.role = "system";
    const json* content = Field(m, "content");
    if (!content) return Bad("messages", "each message needs 'content'");
    if (content->is_string()) {
      cm.content = content->get<std::string>();
    } else if (content->is_array()) {  // [{"type": "text", "text": ...}]
      for (const json& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
          return Bad("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
        }
        cm.content += part["text"].get<std::string>();
      }
    } else {
      return Bad("messages", "'content' must be a string or an array of text parts");
    }
    messages->push_back(std::move(cm));
  }
  return std::nullopt;
}

MaybeError ParseChat(const json& body, const ParseContext& ctx, Job* job) {
  API_TRY(CheckModel(body, ctx));
  std::vector<ChatMessage> messages;
  API_TRY(ReadMessages(body, &messages));
  int64_t max_tokens = std::min<int64_t>(128, ctx.canvas_limit);
  API_TRY(GetInt(body, "max_tokens", 1, ctx.canvas_limit, &max_tokens));
  API_TRY(GetInt(body, "max_completion_tokens", 1, ctx.canvas_limit, &max_tokens));
  GenerationOptions o;
  API_TRY(ReadShared(body, ctx, job, &o));
  o.n_generate = max_tokens;
  auto tmpl = ResolveChatTemplate(ctx.engine.tokenizer()->vocab(), "");
  if (!tmpl.ok()) return FromStatus(tmpl.status());
  const std::string text = FormatChat(*tmpl, messages, /*add_assistant=*/true);
  job->gen.prompt_tokens = ctx.engine.tokenizer()->Encode(text, /*add_special=*/true, /*parse_special=*/true);
  job->gen.options = o;
  return std::nullopt;
}

MaybeError ParseInfill(const json& body, const ParseContext& ctx, Job* job) {
  API_TRY(CheckModel(body, ctx));
  std::string prefix, suffix, prompt;
  API_TRY(GetString(body, "input_prefix", &prefix));
  API_TRY(GetString(body, "input_suffix", &suffix));
  API_TRY(GetString(body, "prompt", &prompt));
  if (!Field(body, "input_prefix") && !Field(body, "input_suffix")) {
    return Bad("input_prefix", "'input_prefix' or 'input_suffix' is required");
  }
  std::string extra;
  if (const json* ex = Field(body, "input_extra")) {  // [{"filename": ..., "text": ...}]: context before the prefix
    if (!ex->is_array()) return Bad("input_extra", "'input_extra' must be an array of {\"filename\", \"text\"}");
    for (const json& chunk : *ex) {
      if (!chunk.is_object() || !chunk.contains("text") || !chunk["text"].is_string()) {
        return Bad("input_extra", "each 'input_extra' entry needs a string 'text'");
      }
      extra += chunk["text"].get<std::string>();
      if (!extra.empty() && extra.back() != '\n') extra += '\n';
    }
  }
  int64_t hole = 0;  // 0: the engine tries several sizes
  API_TRY(GetInt(body, "n_predict", 0, ctx.canvas_limit, &hole));
  API_TRY(GetInt(body, "max_tokens", 0, ctx.canvas_limit, &hole));
  GenerationOptions o;
  API_TRY(ReadShared(body, ctx, job, &o));
  if (ctx.engine.config().causal && hole == 0) hole = std::min<int64_t>(64, ctx.canvas_limit);
  o.n_generate = std::max<int64_t>(hole, 1);
  job->infill = true;
  job->fill.segments = {extra + prefix + prompt, suffix};
  job->fill.hole_tokens = {hole};
  job->fill.options = o;
  return std::nullopt;
}

// Runs one generation inside the response's content provider, writing SSE events (stream) or
// the JSON answer at the end.
}  // namespace

MaybeError ParseJob(const json& body, Endpoint endpoint, const ParseContext& ctx, Job* job) {
  job->endpoint = endpoint;
  switch (endpoint) {
    case Endpoint::kChat: return ParseChat(body, ctx, job);
    case Endpoint::kInfill: return ParseInfill(body, ctx, job);
    case Endpoint::kCompletion: break;
  }
  return ParseCompletion(body, ctx, job);
}

}  // namespace sculpt::server
