#include "objstore/s3_xml.h"

#include <cstdint>

namespace pgthaw::objstore {

namespace {

void append_utf8(uint32_t code, std::string& out) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

// The code point of "#65" or "#x41"; nullopt unless it is one XML allows.
std::optional<uint32_t> parse_char_ref(std::string_view ref) {
  if (ref.size() < 2 || ref.size() > 10 || ref[0] != '#') return std::nullopt;
  const bool hex = ref[1] == 'x';
  std::string_view digits = ref.substr(hex ? 2 : 1);
  if (digits.empty()) return std::nullopt;
  uint32_t code = 0;
  for (char c : digits) {
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (hex && c >= 'a' && c <= 'f') {
      digit = static_cast<uint32_t>(c - 'a' + 10);
    } else if (hex && c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    code = code * (hex ? 16 : 10) + digit;
    if (code > 0x10ffff) return std::nullopt;
  }
  if (code == 0 || (code >= 0xd800 && code <= 0xdfff)) return std::nullopt;
  return code;
}

}  // namespace

Result<std::string> xml_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) {
      return Status::Corruption("XML: unterminated entity");
    }
    std::string_view name = text.substr(i + 1, semi - i - 1);
    if (name == "amp") {
      out += '&';
    } else if (name == "lt") {
      out += '<';
    } else if (name == "gt") {
      out += '>';
    } else if (name == "quot") {
      out += '"';
    } else if (name == "apos") {
      out += '\'';
    } else if (std::optional<uint32_t> code = parse_char_ref(name)) {
      append_utf8(*code, out);
    } else {
      return Status::Corruption("XML: unknown entity &" + std::string(name) + ";");
    }
    i = semi + 1;
  }
  return out;
}

Result<std::vector<std::string>> xml_element_texts(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::vector<std::string> texts;
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    const size_t start = pos + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) {
      return Status::Corruption("XML: <" + std::string(tag) + "> is not closed");
    }
    Result<std::string> text = xml_unescape(xml.substr(start, end - start));
    if (!text.ok()) return text.status();
    texts.push_back(std::move(text.value()));
    pos = end + close.size();
  }
  return texts;
}

std::optional<std::string> xml_first_element_text(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const size_t pos = xml.find(open);
  if (pos == std::string_view::npos) return std::nullopt;
  const size_t start = pos + open.size();
  const size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return std::nullopt;
  Result<std::string> text = xml_unescape(xml.substr(start, end - start));
  if (!text.ok()) return std::nullopt;
  return std::move(text.value());
}

}  // namespace pgthaw::objstore
