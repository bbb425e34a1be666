#include "denoiser/arch/arch.h"

namespace sculpt {

extern const ArchTraits kLladaArch;
extern const ArchTraits kDreamArch;
extern const ArchTraits kLlamaArch;
extern const ArchTraits kQwen2Arch;

namespace {
constexpr const ArchTraits* kRegistered[] = {&kLladaArch, &kDreamArch, &kLlamaArch, &kQwen2Arch};
}

std::span<const ArchTraits* const> Architectures() { return kRegistered; }

const ArchTraits* FindArch(std::string_view name) {
  for (const ArchTraits* a : kRegistered)
    if (a->name == name) return a;
  return nullptr;
}

}  // namespace sculpt
