// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Bearer tokens for `cairn serve`: loaded from a file, compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <cairn/status.h>

namespace cairn::gateway {

// What a token may do. kAppend includes reading.
enum class Scope : std::uint8_t { kNone, kRead, kAppend };

// Thread-safety: immutable after Load; Check may be called from any thread.
class TokenSet {
 public:
  // Lines of "append TOKEN" or "read TOKEN"; blank lines and '#' comments skipped. A token is
  // at least 16 printable ASCII characters. Errors name the file and line; no token is ever
  // echoed back.
  static Result<TokenSet> Load(const std::string& path);
  static Result<TokenSet> Parse(std::string_view text, std::string_view origin);

  bool enabled() const { return !tokens_.empty(); }
  std::size_t size() const { return tokens_.size(); }
  // The scope an Authorization header value grants: kNone unless it is "Bearer <a known
  // token>". Takes the same time whichever token matches, or none: every stored token is
  // compared, by SHA-256 digest, with CRYPTO_memcmp.
  Scope Check(std::string_view authorization) const;

 private:
  struct Token {
    std::array<std::uint8_t, 32> digest;
    Scope scope;
  };
  std::vector<Token> tokens_;
};

}  // namespace cairn::gateway
