// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// client.properties as the Kafka tools read it: java.util.Properties' line format. cairn
// passes the keys and values to librdkafka unchanged, so the same file works for kcat-style
// settings (security.protocol, sasl.mechanism, ssl.ca.location, ...).
#include <fmt/format.h>

#include "cairn/shipper.h"
#include "ship/client_config.h"

namespace cairn {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// Joins continuation lines: a line ending in an odd number of backslashes continues on the
// next one, whose leading blanks are dropped.
std::vector<std::pair<int, std::string>> LogicalLines(std::string_view text) {
  std::vector<std::pair<int, std::string>> lines;
  std::string current;
  int start_line = 0;
  bool continuing = false;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    ++line_no;
    pos = end + 1;
    if (end < text.size() && text[end] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
    if (continuing) {
      while (!line.empty() && IsBlank(line.front())) line.remove_prefix(1);
    } else {
      std::size_t i = 0;
      while (i < line.size() && IsBlank(line[i])) ++i;
      if (i == line.size() || line[i] == '#' || line[i] == '!') {
        if (end == text.size()) break;
        continue;
      }
      line.remove_prefix(i);
      start_line = line_no;
      current.clear();
    }
    std::size_t backslashes = 0;
    while (backslashes < line.size() && line[line.size() - 1 - backslashes] == '\\') ++backslashes;
    continuing = backslashes % 2 == 1;
    if (continuing) line.remove_suffix(1);
    current.append(line);
    if (!continuing) lines.emplace_back(start_line, current);
    if (end == text.size()) break;
  }
  if (continuing) lines.emplace_back(start_line, current);
  return lines;
}

// Resolves \t \n \r \f \uXXXX and \<any> escapes.
Result<std::string> Unescape(std::string_view s, int line_no) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) break;
    switch (s[i]) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        if (s.size() - i - 1 < 4)
          return Status::InvalidArgument(
              fmt::format("client properties line {}: truncated \\u escape", line_no));
        unsigned cp = 0;
        for (int k = 1; k <= 4; ++k) {
          char c = s[i + k];
          unsigned d;
          if (c >= '0' && c <= '9')
            d = c - '0';
          else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
          else
            return Status::InvalidArgument(
                fmt::format("client properties line {}: bad \\u escape", line_no));
          cp = cp << 4 | d;
        }
        i += 4;
        // UTF-8 encode (surrogates are passed as is; Kafka settings are ASCII in practice).
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | cp >> 6);
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | cp >> 12);
          out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        out += s[i];
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ParseClientProperties(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [line_no, line] : LogicalLines(text)) {
    // The key ends at the first unescaped '=', ':' or blank.
    std::size_t i = 0;
    for (; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
        continue;
      }
      if (line[i] == '=' || line[i] == ':' || IsBlank(line[i])) break;
    }
    std::string_view raw_key = std::string_view(line).substr(0, std::min(i, line.size()));
    std::size_t j = i;
    while (j < line.size() && IsBlank(line[j])) ++j;
    if (j < line.size() && (line[j] == '=' || line[j] == ':')) ++j;
    while (j < line.size() && IsBlank(line[j])) ++j;
    std::string_view raw_value = j < line.size() ? std::string_view(line).substr(j) : "";
    auto key = Unescape(raw_key, line_no);
    if (!key.ok()) return key.status();
    auto value = Unescape(raw_value, line_no);
    if (!value.ok()) return value.status();
    if (key->empty())
      return Status::InvalidArgument(
          fmt::format("client properties line {}: a value without a key", line_no));
    out.emplace_back(std::move(key).value(), std::move(value).value());
  }
  return out;
}

}  // namespace cairn

namespace cairn::ship {
namespace {

// The value of `key="value"` (or key=value) inside a JAAS line, or empty.
std::string JaasOption(std::string_view jaas, std::string_view key) {
  std::size_t at = 0;
  while ((at = jaas.find(key, at)) != std::string_view::npos) {
    const bool starts = at == 0 || jaas[at - 1] == ' ' || jaas[at - 1] == '\t';
    std::size_t eq = at + key.size();
    while (eq < jaas.size() && jaas[eq] == ' ') ++eq;
    if (!starts || eq >= jaas.size() || jaas[eq] != '=') {
      at += key.size();
      continue;
    }
    std::size_t v = eq + 1;
    while (v < jaas.size() && jaas[v] == ' ') ++v;
    if (v < jaas.size() && jaas[v] == '"') {
      std::string out;
      for (std::size_t i = v + 1; i < jaas.size() && jaas[i] != '"'; ++i) {
        if (jaas[i] == '\\' && i + 1 < jaas.size()) ++i;
        out += jaas[i];
      }
      return out;
    }
    std::size_t end = jaas.find_first_of(" ;", v);
    return std::string(
        jaas.substr(v, end == std::string_view::npos ? std::string_view::npos : end - v));
  }
  return {};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TranslateJavaClientProperties(
    const std::vector<std::pair<std::string, std::string>>& properties,
    const std::function<bool(const std::string& key)>& librdkafka_knows,
    std::vector<std::string>* warnings) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : properties) {
    if (key == "sasl.jaas.config") {
      // PLAIN and SCRAM logins carry the user and password in the JAAS line; librdkafka
      // takes them as settings of their own. Other login modules (OAUTHBEARER, AWS IAM) have
      // no librdkafka equivalent here.
      const bool password_login = value.find("PlainLoginModule") != std::string::npos ||
                                  value.find("ScramLoginModule") != std::string::npos;
      const std::string user = JaasOption(value, "username");
      const std::string password = JaasOption(value, "password");
      if (password_login && !user.empty()) {
        out.emplace_back("sasl.username", user);
        out.emplace_back("sasl.password", password);
      } else {
        warnings->push_back(
            "sasl.jaas.config: only PLAIN and SCRAM username/password logins translate to "
            "librdkafka (sasl.username, sasl.password); skipped");
      }
      continue;
    }
    // Names librdkafka reserves only to refuse them: Java key stores have no place there.
    if (key == "ssl.truststore.location" || key == "ssl.truststore.password" ||
        key == "ssl.truststore.type" || key == "ssl.keystore.type") {
      warnings->push_back(fmt::format(
          "{}: Java trust and key stores do not translate; skipped (librdkafka takes PEM files: "
          "ssl.ca.location, ssl.certificate.location, ssl.key.location)",
          key));
      continue;
    }
    if (!librdkafka_knows(key)) {
      warnings->push_back(
          fmt::format("{}: a Java client setting librdkafka does not have; skipped", key));
      continue;
    }
    out.emplace_back(key, value);
  }
  return out;
}

}  // namespace cairn::ship
