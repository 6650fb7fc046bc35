// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Bearer tokens of `cairn serve --tokens`: loading the file, the scope check (gateway_auth.h).
#include "gateway/gateway_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fmt/format.h>

#include "textio/bounded_read.h"

namespace cairn::gateway {

using textio::kMaxConfigFileBytes;
using textio::ReadFileAtMost;
namespace {

constexpr std::size_t kMinTokenBytes = 16;

std::array<std::uint8_t, 32> Digest(std::string_view text) {
  std::array<std::uint8_t, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool PrintableAscii(std::string_view s) {
  for (char c : s)
    if (c <= ' ' || c > '~') return false;
  return true;
}

}  // namespace

Result<TokenSet> TokenSet::Load(const std::string& path) {
  auto text = ReadFileAtMost(path, kMaxConfigFileBytes, "--tokens file");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

Result<TokenSet> TokenSet::Parse(std::string_view text, std::string_view origin) {
  TokenSet set;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::size_t sp = line.find_first_of(" \t");
    const std::string_view scope = line.substr(0, sp);
    const std::string_view token = sp == std::string_view::npos ? "" : Trim(line.substr(sp));
    const auto where = fmt::format("--tokens '{}' line {}", origin, line_no);
    Token t{};
    if (scope == "append")
      t.scope = Scope::kAppend;
    else if (scope == "read")
      t.scope = Scope::kRead;
    else
      return Status::InvalidArgument(
          fmt::format("{}: expected 'append TOKEN' or 'read TOKEN'", where));
    if (token.size() < kMinTokenBytes || !PrintableAscii(token))
      return Status::InvalidArgument(
          fmt::format("{}: a token is at least {} printable ASCII characters without spaces", where,
                      kMinTokenBytes));
    t.digest = Digest(token);
    set.tokens_.push_back(t);
  }
  if (set.tokens_.empty())
    return Status::InvalidArgument(fmt::format("--tokens '{}': no tokens in it", origin));
  return set;
}

Scope TokenSet::Check(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer)
    return Scope::kNone;
  const auto presented = Digest(Trim(authorization.substr(kBearer.size())));
  // No early exit: the time taken does not tell which token (or whether any) matched.
  int best = 0;
  for (const Token& t : tokens_) {
    const int same = CRYPTO_memcmp(presented.data(), t.digest.data(), presented.size()) == 0;
    const int rank = same * static_cast<int>(t.scope);
    best = rank > best ? rank : best;
  }
  return static_cast<Scope>(best);
}

}  // namespace cairn::gateway
