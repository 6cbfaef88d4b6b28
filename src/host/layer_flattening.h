// host::copy_layers_as_one: overlay layers (vfs/layer_stack.h) copied into
// one new layer that reads the same; make_partial_copies_whole: an upper
// layer that holds all its own bytes.
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

// Makes every partial copy-up of the overlay `upper` over `lower` whole, so
// that `upper` holds all its own bytes with no chunk map: a map names the
// local file it belongs to, and a copy of `upper` elsewhere would read the
// chunks it did not copy as zeros.
Status make_partial_copies_whole(const std::vector<std::string>& lower, const std::string& upper,
                                 bool durable);

}  // namespace pgthaw::host
