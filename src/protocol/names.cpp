#include "protocol/names.hpp"

#include "protocol/envelope.hpp"

#include <cstdint>
#include <cstdio>
#include <vector>

namespace lobbykit::protocol {
namespace {

struct Range {
  char32_t first, last;
};

// Unicode 15.0 (PropList.txt, DerivedCoreProperties.txt, the Cf category).
constexpr Range kSpace[] = {{0x0020, 0x0020}, {0x00A0, 0x00A0}, {0x1680, 0x1680},
                            {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                            {0x205F, 0x205F}, {0x3000, 0x3000}};
constexpr Range kBidiControl[] = {
    {0x061C, 0x061C}, {0x200E, 0x200F}, {0x202A, 0x202E}, {0x2066, 0x2069}};
constexpr Range kVariationSelector[] = {
    {0x180B, 0x180D}, {0x180F, 0x180F}, {0xFE00, 0xFE0F}, {0xE0100, 0xE01EF}};
// Default_Ignorable_Code_Point and Cf, minus the classes above, plus the blank braille cell.
constexpr Range kInvisible[] = {
    {0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x0600, 0x0605},   {0x06DD, 0x06DD},
    {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},   {0x115F, 0x1160},
    {0x17B4, 0x17B5},   {0x180E, 0x180E},   {0x200B, 0x200B},   {0x2060, 0x2065},
    {0x206A, 0x206F},   {0x2800, 0x2800},   {0x3164, 0x3164},   {0xFEFF, 0xFEFF},
    {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD},
    {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE001F},
    {0xE0080, 0xE00FF}, {0xE01F0, 0xE0FFF}};

constexpr char32_t kZwnj = 0x200C, kZwj = 0x200D;
constexpr char32_t kWavingBlackFlag = 0x1F3F4;  // the base of the emoji tag sequences
constexpr char32_t kCancelTag = 0xE007F;

template <std::size_t N>
bool in(const Range (&ranges)[N], char32_t cp) {
  for (const Range& r : ranges)
    if (cp >= r.first && cp <= r.last) return true;
  return false;
}

// White_Space controls: trimmed at the ends like spaces, refused inside like controls.
bool is_space_control(char32_t cp) { return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85; }

// The ASCII characters with an emoji keycap sequence: #, * and 0-9 (then U+FE0F U+20E3).
bool is_keycap_base(char32_t cp) { return cp == '#' || cp == '*' || (cp >= '0' && cp <= '9'); }

// Code points of valid UTF-8 text.
std::vector<char32_t> decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = s[i];
    std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

void encode(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// "U+200B"
std::string code_point(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

NameCheck refused(std::string problem) { return {"", std::move(problem)}; }

}  // namespace

NameChar classify_name_char(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return NameChar::control;
  if (cp < 0x7F) return cp == 0x20 ? NameChar::space : NameChar::visible;  // ASCII, fast
  if (in(kSpace, cp)) return NameChar::space;
  if (in(kBidiControl, cp)) return NameChar::bidi_control;
  if (cp == kZwnj || cp == kZwj) return NameChar::joiner;
  if (in(kVariationSelector, cp)) return NameChar::variation_selector;
  if (cp >= 0xE0020 && cp < kCancelTag) return NameChar::tag;
  if (cp == kCancelTag) return NameChar::cancel_tag;
  if (in(kInvisible, cp)) return NameChar::invisible;
  if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return NameChar::noncharacter;
  return NameChar::visible;
}

NameCheck check_name(std::string_view raw, std::size_t max_chars) {
  if (!valid_utf8(raw)) return refused("The name is not valid UTF-8.");
  const std::vector<char32_t> all = decode(raw);

  // Trim White_Space at both ends; one U+0020 for every run of spaces inside.
  auto blank = [](char32_t cp) {
    return is_space_control(cp) || classify_name_char(cp) == NameChar::space;
  };
  std::size_t begin = 0, end = all.size();
  while (begin < end && blank(all[begin])) ++begin;
  while (end > begin && blank(all[end - 1])) --end;
  std::vector<char32_t> cps;
  std::vector<NameChar> kinds;
  for (std::size_t i = begin; i < end; ++i) {
    NameChar k = classify_name_char(all[i]);
    if (k == NameChar::space) {
      if (kinds.back() == NameChar::space) continue;  // never first: the ends are trimmed
      cps.push_back(0x20);
    } else {
      cps.push_back(all[i]);
    }
    kinds.push_back(k);
  }

  if (cps.empty()) return refused("The name is empty.");
  if (cps.size() > max_chars)
    return refused("The name is longer than " + std::to_string(max_chars) + " characters.");

  // Refused wherever they are.
  bool has_visible = false;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    switch (kinds[i]) {
      case NameChar::control:
        return refused("The name contains a control character (" + code_point(cps[i]) + ").");
      case NameChar::bidi_control:
        return refused("The name contains a bidirectional control character (" +
                       code_point(cps[i]) +
                       "), which can make text display in a misleading order.");
      case NameChar::noncharacter:
        return refused("The name contains " + code_point(cps[i]) + ", which is not a character.");
      case NameChar::visible:
        has_visible = true;
        break;
      default:
        break;
    }
  }
  if (!has_visible) return refused("The name has no visible character.");

  // Allowed only where they take part in how visible characters are written. Next to an
  // ASCII character they change nothing on screen, so they would only make a second name
  // that looks like the first ("Ada" + U+FE0F).
  auto kind_at = [&](std::size_t i) { return i < kinds.size() ? kinds[i] : NameChar::space; };
  auto visible_non_ascii = [&](std::size_t i) {
    return i < kinds.size() && kinds[i] == NameChar::visible && cps[i] >= 0x80;
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    switch (kinds[i]) {
      case NameChar::invisible:
        return refused("The name contains an invisible or formatting character (" +
                       code_point(cps[i]) + ").");
      case NameChar::joiner:
        if (i == 0 || !(visible_non_ascii(i - 1) || kinds[i - 1] == NameChar::variation_selector) ||
            !visible_non_ascii(i + 1))
          return refused("A zero-width joiner or non-joiner (" + code_point(cps[i]) +
                         ") must stand between two visible characters that are not ASCII.");
        break;
      case NameChar::variation_selector:
        if (i == 0 || !(visible_non_ascii(i - 1) || is_keycap_base(cps[i - 1])))
          return refused("A variation selector (" + code_point(cps[i]) +
                         ") must follow a visible character that is not ASCII (or #, * or a "
                         "digit, for a keycap).");
        break;
      case NameChar::visible:
        if (cps[i] == kWavingBlackFlag && kind_at(i + 1) == NameChar::tag) {
          std::size_t j = i + 1;
          while (kind_at(j) == NameChar::tag) ++j;
          if (kind_at(j) != NameChar::cancel_tag)
            return refused("An emoji tag sequence must end with U+E007F.");
          i = j;  // the whole flag
        }
        break;
      case NameChar::tag:
      case NameChar::cancel_tag:
        return refused("Tag characters (" + code_point(cps[i]) +
                       ") may only appear in an emoji flag sequence.");
      default:
        break;
    }
  }

  std::string name;
  name.reserve(raw.size());
  for (char32_t cp : cps) encode(cp, name);
  return {std::move(name), ""};
}

std::string name_key(std::string_view name) {
  std::string key(name);
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

}  // namespace lobbykit::protocol
