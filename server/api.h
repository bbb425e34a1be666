// The JSON side of the server: OpenAI-shaped errors, and the parsing and validation of generation
// requests into engine requests (a Job). No HTTP here; server.cc maps ApiError::status to the
// response.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace sculpt::server {

using json = nlohmann::json;

// JSON text; invalid UTF-8 (a token cut inside a character) becomes U+FFFD instead of throwing.
std::string Dump(const json& j);

// Errors: OpenAI's shape {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  ApiError(int status_, std::string message_, std::string param_ = "",
           std::string type_ = "invalid_request_error", std::string code_ = "")
      : status(status_), message(std::move(message_)), param(std::move(param_)), type(std::move(type_)),
        code(std::move(code_)) {}
  int status;
  std::string message;
  std::string param;
  std::string type;
  std::string code;
};
using MaybeError = std::optional<ApiError>;

ApiError Bad(std::string param, std::string message);
json ErrorJson(const ApiError& e);
ApiError FromStatus(const Status& s);


enum class Endpoint { kCompletion, kChat, kInfill };

struct Job {
  Endpoint endpoint = Endpoint::kCompletion;
  bool stream = false;
  bool infill = false;  // run Engine::Infill (suffix given, or /infill)
  GenerateRequest gen;
  InfillRequest fill;
  std::vector<std::string> stop;
  std::string id;
  int64_t created = 0;
  bool queued = false;  // admitted to the queue: Run() waits for a slot first
  uint64_t ticket = 0;
};

// What request parsing checks against.
struct ParseContext {
  const Engine& engine;
  int64_t canvas_limit;  // prompt + generated tokens
  int64_t max_steps;
  std::string model_id;
};

// Reads a generation request (400 for bad fields, 404 for another model) into job.
MaybeError ParseJob(const json& body, Endpoint endpoint, const ParseContext& ctx, Job* job);

// Reads an optional string field: absent or null leaves *out; another type is a 400.
MaybeError GetString(const json& body, const char* name, std::string* out);
MaybeError GetBool(const json& body, const char* name, bool* out);
// The field, or null when absent or JSON null.
const json* Field(const json& body, const char* name);

}  // namespace sculpt::server
