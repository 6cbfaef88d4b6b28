// host::copy_layers_as_one: overlay layers (vfs/layer_stack.h) copied into
// one new layer that reads the same.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::host {

// Copies the merged view of `layers` (bottom first, a top part of `stack`)
// into the new directory `out` (made here, parents too): their files and
// directories, each file's bytes read through `stack` (a partial copy may
// rest on a layer under `layers`), and a whiteout log hiding every path
// `layers` hide of the layers below them. Reads only; `stop` true gives up
// (Aborted). On failure the caller removes `out`.
Status copy_layers_as_one(const std::vector<std::string>& layers,
                          const std::vector<std::string>& stack, const std::string& out,
                          const std::atomic<bool>& stop, bool durable);

}  // namespace pgthaw::host
