// Display names and lobby names: which characters a name may hold, how it is trimmed, and
// the key names are unique under. Pure functions; docs/protocol.md ("Names") states the
// same rule for people, and the unit tests hold a table of accepted and refused code points.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lobbykit::protocol {

// What a code point is to a name. Every code point falls in exactly one class.
enum class NameChar {
  visible,             // letters, marks, digits, punctuation, symbols, emoji, private use, ...
  space,               // Unicode White_Space that is not a control character (U+0020, U+00A0,
                       // U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000)
  control,             // C0 and C1 controls, U+0000-001F and U+007F-009F
  bidi_control,        // Bidi_Control: U+061C, U+200E, U+200F, U+202A-202E, U+2066-2069
  joiner,              // U+200C ZERO WIDTH NON-JOINER, U+200D ZERO WIDTH JOINER
  variation_selector,  // U+180B-180D, U+180F, U+FE00-FE0F, U+E0100-E01EF
  tag,                 // U+E0020-E007E: the letters of an emoji tag sequence
  cancel_tag,          // U+E007F: the end of an emoji tag sequence
  invisible,           // every other Default_Ignorable_Code_Point or format (Cf) character,
                       // and U+2800 BRAILLE PATTERN BLANK
  noncharacter,        // U+FDD0-FDEF and the last two code points of every plane
};

NameChar classify_name_char(char32_t cp);

// A raw name, checked and cleaned:
//  - valid UTF-8;
//  - White_Space (controls U+0009-000D and U+0085 included) trimmed at both ends, and every
//    run of White_Space inside replaced by one U+0020 SPACE;
//  - then 1..max_chars code points;
//  - no control, bidi control, invisible or format character, no noncharacter;
//  - at least one visible character;
//  - U+200C / U+200D only right after a visible non-ASCII character or a variation selector
//    and right before a visible non-ASCII character; a variation selector only right after a
//    visible non-ASCII character or a keycap base (#, *, 0-9); tag characters only as an
//    emoji tag sequence: U+1F3F4, one or more of U+E0020-E007E, then U+E007F.
// Returns the cleaned name, or a sentence saying why the name is refused (name then "").
struct NameCheck {
  std::string name;
  std::string problem;  // empty when the name is fine
};
NameCheck check_name(std::string_view raw, std::size_t max_chars);

// The key names are unique under: ASCII letters folded to lower case. Applied to names that
// check_name() cleaned, so look-alike spacing cannot make a second key.
std::string name_key(std::string_view name);

}  // namespace lobbykit::protocol
