// Waits for a condition another thread makes true: polls it until it holds or `bound`
// passes, and says which. A test waits for the condition itself, never for a fixed time.
// The default bound only ends a wait that would never end: a loaded machine under a
// sanitizer may take seconds for what takes milliseconds here (hashing 1000 files, say).
#pragma once

#include <chrono>
#include <thread>

namespace p2p::testing {

template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds bound = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace p2p::testing
