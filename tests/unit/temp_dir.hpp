// A fresh folder under /tmp for one test, removed with everything in it afterwards.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace p2p::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = "/tmp/p2p-unit-XXXXXX";
    path = std::filesystem::canonical(::mkdtemp(tmpl.data()));
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
  }
};

}  // namespace p2p::testing
