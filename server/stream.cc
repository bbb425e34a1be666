#include "server/stream.h"

namespace sculpt::server {

std::string Snapshot(const Engine& e, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (id == e.config().mask_id) {
      out += "\u2591";
    } else if (!e.config().IsEog(id)) {
      out += e.tokenizer()->Piece(id);
    }
  }
  return out;
}

}  // namespace sculpt::server
