// Tests for the name rule (protocol/names.hpp): the class of every interesting code point
// and its neighbours, then whole names, accepted (with the cleaned form) or refused (with
// the reason). Expected values are from docs/protocol.md ("Names") and the Unicode data the
// rule cites (PropList.txt White_Space and Bidi_Control, DerivedCoreProperties.txt
// Default_Ignorable_Code_Point, the Cf category).
#include "protocol/names.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace lobbykit::protocol {
namespace {

const char* class_name(NameChar c) {
  switch (c) {
    case NameChar::visible: return "visible";
    case NameChar::space: return "space";
    case NameChar::control: return "control";
    case NameChar::bidi_control: return "bidi_control";
    case NameChar::joiner: return "joiner";
    case NameChar::variation_selector: return "variation_selector";
    case NameChar::tag: return "tag";
    case NameChar::cancel_tag: return "cancel_tag";
    case NameChar::invisible: return "invisible";
    case NameChar::noncharacter: return "noncharacter";
  }
  return "?";
}

std::string hex(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

// UTF-8 of code points, so that the tables read as code points.
std::string u8(std::u32string_view cps) {
  std::string out;
  for (char32_t cp : cps) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

struct Classified {
  char32_t cp;
  NameChar want;
};

// Every range of the rule with the code points just outside it.
constexpr Classified kClasses[] = {
    // controls and ASCII
    {0x0000, NameChar::control}, {0x0009, NameChar::control}, {0x001F, NameChar::control},
    {0x0020, NameChar::space}, {0x0021, NameChar::visible}, {0x0041, NameChar::visible},
    {0x007E, NameChar::visible}, {0x007F, NameChar::control}, {0x0080, NameChar::control},
    {0x0085, NameChar::control}, {0x009F, NameChar::control},
    // White_Space that is not a control
    {0x00A0, NameChar::space}, {0x00A1, NameChar::visible}, {0x167F, NameChar::visible},
    {0x1680, NameChar::space}, {0x1681, NameChar::visible}, {0x1FFF, NameChar::visible},
    {0x2000, NameChar::space}, {0x2007, NameChar::space}, {0x200A, NameChar::space},
    {0x2028, NameChar::space}, {0x2029, NameChar::space}, {0x202F, NameChar::space},
    {0x205F, NameChar::space}, {0x3000, NameChar::space}, {0x3001, NameChar::visible},
    // Bidi_Control
    {0x061B, NameChar::visible}, {0x061C, NameChar::bidi_control},
    {0x061D, NameChar::visible}, {0x200E, NameChar::bidi_control},
    {0x200F, NameChar::bidi_control}, {0x202A, NameChar::bidi_control},
    {0x202B, NameChar::bidi_control}, {0x202C, NameChar::bidi_control},
    {0x202D, NameChar::bidi_control}, {0x202E, NameChar::bidi_control},
    {0x2066, NameChar::bidi_control}, {0x2067, NameChar::bidi_control},
    {0x2068, NameChar::bidi_control}, {0x2069, NameChar::bidi_control},
    // joiners
    {0x200B, NameChar::invisible}, {0x200C, NameChar::joiner}, {0x200D, NameChar::joiner},
    // variation selectors
    {0x180A, NameChar::visible}, {0x180B, NameChar::variation_selector},
    {0x180D, NameChar::variation_selector}, {0x180E, NameChar::invisible},
    {0x180F, NameChar::variation_selector}, {0x1810, NameChar::visible},
    {0xFDFF, NameChar::visible}, {0xFE00, NameChar::variation_selector},
    {0xFE0E, NameChar::variation_selector}, {0xFE0F, NameChar::variation_selector},
    {0xFE10, NameChar::visible}, {0xE0100, NameChar::variation_selector},
    {0xE01EF, NameChar::variation_selector},
    // tags
    {0xE001F, NameChar::invisible}, {0xE0020, NameChar::tag}, {0xE0067, NameChar::tag},
    {0xE007E, NameChar::tag}, {0xE007F, NameChar::cancel_tag}, {0xE0080, NameChar::invisible},
    // Default_Ignorable_Code_Point and Cf
    {0x00AC, NameChar::visible}, {0x00AD, NameChar::invisible}, {0x00AE, NameChar::visible},
    {0x034E, NameChar::visible}, {0x034F, NameChar::invisible}, {0x0350, NameChar::visible},
    {0x0600, NameChar::invisible}, {0x0605, NameChar::invisible}, {0x0606, NameChar::visible},
    {0x06DD, NameChar::invisible}, {0x070F, NameChar::invisible}, {0x0890, NameChar::invisible},
    {0x0891, NameChar::invisible}, {0x08E2, NameChar::invisible}, {0x115E, NameChar::visible},
    {0x115F, NameChar::invisible}, {0x1160, NameChar::invisible}, {0x1161, NameChar::visible},
    {0x17B4, NameChar::invisible}, {0x17B5, NameChar::invisible}, {0x17B6, NameChar::visible},
    {0x2010, NameChar::visible}, {0x205E, NameChar::visible}, {0x2060, NameChar::invisible},
    {0x2064, NameChar::invisible}, {0x2065, NameChar::invisible}, {0x206A, NameChar::invisible},
    {0x206F, NameChar::invisible}, {0x2070, NameChar::visible}, {0x27FF, NameChar::visible},
    {0x2800, NameChar::invisible}, {0x2801, NameChar::visible}, {0x3163, NameChar::visible},
    {0x3164, NameChar::invisible}, {0x3165, NameChar::visible}, {0xFEFE, NameChar::visible},
    {0xFEFF, NameChar::invisible}, {0xFF9F, NameChar::visible}, {0xFFA0, NameChar::invisible},
    {0xFFA1, NameChar::visible}, {0xFFEF, NameChar::visible}, {0xFFF0, NameChar::invisible},
    {0xFFF9, NameChar::invisible}, {0xFFFB, NameChar::invisible}, {0xFFFC, NameChar::visible},
    {0xFFFD, NameChar::visible}, {0x110BD, NameChar::invisible},
    {0x110CD, NameChar::invisible}, {0x1342F, NameChar::visible},
    {0x13430, NameChar::invisible}, {0x1343F, NameChar::invisible},
    {0x13440, NameChar::visible}, {0x1BCA0, NameChar::invisible},
    {0x1BCA3, NameChar::invisible}, {0x1D173, NameChar::invisible},
    {0x1D17A, NameChar::invisible}, {0x1D17B, NameChar::visible},
    {0xE0000, NameChar::invisible}, {0xE0001, NameChar::invisible},
    {0xE01F0, NameChar::invisible}, {0xE0FFF, NameChar::invisible},
    {0xE1000, NameChar::visible},
    // noncharacters
    {0xFDCF, NameChar::visible}, {0xFDD0, NameChar::noncharacter},
    {0xFDEF, NameChar::noncharacter}, {0xFDF0, NameChar::visible},
    {0xFFFE, NameChar::noncharacter}, {0xFFFF, NameChar::noncharacter},
    {0x1FFFE, NameChar::noncharacter}, {0x10FFFF, NameChar::noncharacter},
    // ordinary characters of many scripts, emoji, private use
    {0x00E9, NameChar::visible}, {0x0301, NameChar::visible}, {0x05D0, NameChar::visible},
    {0x0627, NameChar::visible}, {0x06CC, NameChar::visible}, {0x0915, NameChar::visible},
    {0x094D, NameChar::visible}, {0x4E00, NameChar::visible}, {0xAC00, NameChar::visible},
    {0xE000, NameChar::visible}, {0x1F3F4, NameChar::visible}, {0x1F3FD, NameChar::visible},
    {0x1F468, NameChar::visible}, {0x10FFFD, NameChar::visible},
};

TEST_CASE("classify_name_char: every range of the rule and its neighbours") {
  for (const Classified& c : kClasses) {
    INFO(hex(c.cp));
    CHECK(std::string(class_name(classify_name_char(c.cp))) == class_name(c.want));
  }
}

struct Accepted {
  std::u32string raw;
  std::u32string cleaned;
};

TEST_CASE("check_name accepts names of every script, trimmed and with spaces folded") {
  const Accepted kAccepted[] = {
      {U"Ada", U"Ada"},
      {U"  Ada Lovelace  ", U"Ada Lovelace"},
      {U"\u00A0Ada\u3000", U"Ada"},                       // any White_Space at the ends
      {U"\u2003\u2029Ada\u2028\u205F", U"Ada"},
      {U"\tAda\r\n", U"Ada"},                              // White_Space controls too
      {U"\u0085Ada\u000B", U"Ada"},
      {U"Ada\u00A0Lovelace", U"Ada Lovelace"},             // inside: one U+0020 per run
      {U"Ada  \u3000 \u202FLovelace", U"Ada Lovelace"},
      {U"\u5C71\u7530\u3000\u592A\u90CE", U"\u5C71\u7530 \u592A\u90CE"},  // 山田　太郎
      {U"Zo\u00EB", U"Zo\u00EB"},
      {U"e\u0301", U"e\u0301"},                             // a combining mark
      {U"\u00A1Hola!", U"\u00A1Hola!"},                      // just past the C1 controls
      {U"\u05E9\u05DC\u05D5\u05DD", U"\u05E9\u05DC\u05D5\u05DD"},          // Hebrew, no controls
      {U"\u0645\u0631\u062D\u0628\u0627", U"\u0645\u0631\u062D\u0628\u0627"},  // Arabic
      // Persian: ZWNJ between two letters (می‌خواهم)
      {U"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645",
       U"\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645"},
      // Devanagari: ZWJ after a virama (क्‍ष)
      {U"\u0915\u094D\u200D\u0937", U"\u0915\u094D\u200D\u0937"},
      // emoji ZWJ sequences: family; woman technologist with a skin tone; heart on fire
      {U"\U0001F468\u200D\U0001F469\u200D\U0001F467",
       U"\U0001F468\u200D\U0001F469\u200D\U0001F467"},
      {U"\U0001F469\U0001F3FD\u200D\U0001F4BB", U"\U0001F469\U0001F3FD\u200D\U0001F4BB"},
      {U"\u2764\uFE0F\u200D\U0001F525", U"\u2764\uFE0F\u200D\U0001F525"},
      {U"\u2764\uFE0F", U"\u2764\uFE0F"},                   // emoji presentation
      {U"#\uFE0F\u20E3 club", U"#\uFE0F\u20E3 club"},       // keycap
      {U"\u8FBB\U000E0100", U"\u8FBB\U000E0100"},           // ideographic variation
      // flag of Scotland: black flag, tags "gbsct", cancel tag
      {U"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
       U"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
      {U"\U0001F3F4 pirate", U"\U0001F3F4 pirate"},
      {U"\uE000\uFFFD\uFFFC", U"\uE000\uFFFD\uFFFC"},       // private use, replacement, object
  };
  for (const Accepted& a : kAccepted) {
    const std::string raw = u8(a.raw);
    INFO(raw);
    NameCheck c = check_name(raw, 32);
    CHECK(c.problem == "");
    CHECK(c.name == u8(a.cleaned));
  }
}

struct Refused {
  std::u32string raw;
  const char* reason;  // part of the sentence
};

TEST_CASE("check_name refuses invisible, deceptive and malformed names with a reason") {
  const Refused kRefused[] = {
      {U"", "empty"},
      {U"   ", "empty"},
      {U"\u00A0\u3000\u2003\t\n", "empty"},
      // nothing visible
      {U"\u200B", "no visible character"},
      {U"\u200B\u200B\u200B", "no visible character"},
      {U"\uFEFF", "no visible character"},
      {U"\u2060", "no visible character"},
      {U"\u00AD", "no visible character"},
      {U"\u3164", "no visible character"},                 // Hangul filler
      {U"\u3164\u3164 \u3164", "no visible character"},
      {U"\u2800", "no visible character"},                 // braille blank
      {U"\u200D", "no visible character"},
      {U"\u200C\u200D", "no visible character"},
      {U"\uFE0F", "no visible character"},
      {U"\U000E0067\U000E007F", "no visible character"},
      {U"\u034F\U000E0001", "no visible character"},
      // bidirectional controls, anywhere
      {U"\u202EAda", "bidirectional control character (U+202E)"},
      {U"Ada\u202Egnp.exe", "bidirectional control character (U+202E)"},
      {U"Ada\u202A", "bidirectional control character (U+202A)"},
      {U"Ada\u202B", "U+202B"}, {U"Ada\u202C", "U+202C"}, {U"Ada\u202D", "U+202D"},
      {U"\u2066Ada\u2069", "bidirectional control character (U+2066)"},
      {U"Ada\u2067", "U+2067"}, {U"Ada\u2068", "U+2068"}, {U"Ada\u2069", "U+2069"},
      {U"Ada\u200E", "bidirectional control character (U+200E)"},
      {U"\u200FAda", "bidirectional control character (U+200F)"},
      {U"\u0645\u061C\u0631", "bidirectional control character (U+061C)"},
      {U"\u202E", "bidirectional control character"},
      // invisible or format characters next to visible ones
      {U"A\u200Bda", "invisible or formatting character (U+200B)"},
      {U"Ada\uFEFF", "invisible or formatting character (U+FEFF)"},
      {U"Ada\u2060", "U+2060"}, {U"Ada\u00AD", "U+00AD"}, {U"Ada\u034F", "U+034F"},
      {U"Ada\u3164", "U+3164"}, {U"Ada\u2800", "U+2800"}, {U"Ada\u180E", "U+180E"},
      {U"Ada\u2061", "U+2061"}, {U"Ada\uFFF9", "U+FFF9"}, {U"Ada\U000E0001", "U+E0001"},
      {U"\u0600123", "U+0600"}, {U"Ada\U0001D173", "U+1D173"},
      // joiners and variation selectors out of place
      {U"Ada\u200D", "joiner or non-joiner (U+200D)"},
      {U"\u200DAda", "joiner or non-joiner (U+200D)"},
      {U"Ad\u200Ca", "joiner or non-joiner (U+200C)"},       // next to ASCII: no effect
      {U"\u0645\u200C \u0645", "joiner or non-joiner (U+200C)"},
      {U"\u0645\u200C\u200C\u0645", "joiner or non-joiner (U+200C)"},
      {U"\U0001F468\u200D", "joiner or non-joiner (U+200D)"},
      {U"Ada\uFE0F", "variation selector (U+FE0F)"},
      {U"\uFE0FAda", "variation selector (U+FE0F)"},
      {U"\u2764\uFE0F\uFE0F", "variation selector (U+FE0F)"},
      {U"\u2764 \uFE0F", "variation selector (U+FE0F)"},
      {U"x\U000E0100", "variation selector (U+E0100)"},
      // tag characters outside an emoji flag
      {U"Ada\U000E0067\U000E007F", "Tag characters (U+E0067)"},
      {U"Ada\U000E007F", "Tag characters (U+E007F)"},
      {U"\U0001F3F4\U000E0067\U000E0062", "must end with U+E007F"},
      {U"\U0001F3F4\U000E007F", "Tag characters (U+E007F)"},
      // controls inside, noncharacters
      {U"a\tb", "control character (U+0009)"},
      {U"a\nb", "control character (U+000A)"},
      {U"a\u0085b", "control character (U+0085)"},
      {U"a\x01", "control character (U+0001)"},
      {U"\x7F" U"a", "control character (U+007F)"},
      {U"Ada\uFFFF", "U+FFFF, which is not a character"},
      {U"Ada\uFDD0", "U+FDD0, which is not a character"},
  };
  for (const Refused& r : kRefused) {
    const std::string raw = u8(r.raw);
    INFO(raw);
    NameCheck c = check_name(raw, 32);
    CHECK(c.name == "");
    CHECK(c.problem.find(r.reason) != std::string::npos);
    CHECK(c.problem.back() == '.');  // a sentence
  }
}

TEST_CASE("check_name counts the length after trimming and folding spaces") {
  const std::string a32(32, 'a');
  CHECK(check_name(a32, 32).problem == "");
  CHECK(check_name(a32 + "a", 32).problem == "The name is longer than 32 characters.");
  CHECK(check_name("   " + a32 + "\t\n", 32).name == a32);
  // 31 letters and a run of 5 spaces inside: 32 once the run is one space.
  const std::string folded = std::string(15, 'b') + "     " + std::string(16, 'c');
  CHECK(check_name(folded, 32).name == std::string(15, 'b') + " " + std::string(16, 'c'));
  // Code points, not bytes: 32 four-byte emoji.
  std::string emoji;
  for (int i = 0; i < 32; ++i) emoji += u8(U"\U0001F389");
  CHECK(check_name(emoji, 32).problem == "");
  CHECK(check_name(emoji + u8(U"\U0001F389"), 32).problem != "");
}

TEST_CASE("check_name refuses invalid UTF-8") {
  for (std::string_view bad :
       {std::string_view("a\xC3"), std::string_view("\xED\xA0\x80"),
        std::string_view("\xC0\xAF"), std::string_view("\xF4\x90\x80\x80")}) {
    NameCheck c = check_name(bad, 32);
    CHECK(c.problem == "The name is not valid UTF-8.");
    CHECK(c.name == "");
  }
}

TEST_CASE("names that look alike share one key once cleaned") {
  auto key = [](std::u32string_view raw) { return name_key(check_name(u8(raw), 32).name); };
  CHECK(key(U"Ada Lovelace") == "ada lovelace");
  CHECK(key(U"  ADA\u00A0\u00A0LOVELACE\u3000") == "ada lovelace");
  CHECK(key(U"ada\u2003lovelace") == key(U"Ada Lovelace"));
}

}  // namespace
}  // namespace lobbykit::protocol
