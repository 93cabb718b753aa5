// Decoding of inbound frames into envelopes {"type", "data", "id"?}: pure functions, no I/O.
#pragma once

#include "protocol/error_code.hpp"

#include <rapidjson/document.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lobbykit::protocol {

constexpr int kProtocolVersion = 1;
constexpr int kMaxJsonDepth = 32;        // deeper input is refused before parsing
constexpr std::size_t kMaxIdBytes = 64;  // a string id longer than this is refused
constexpr std::size_t kMaxTypeBytes = 64;

// True when text is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text);
// Number of code points in valid UTF-8 text.
std::size_t utf8_length(std::string_view text);

struct Envelope {
  std::string_view type;
  std::string id_raw;                        // the request id as JSON text, "" when absent
  const rapidjson::Value* data = nullptr;    // an object (an empty one when "data" is absent)
};

// Parses text as one JSON object (depth-checked, iteratively) into doc. Used for envelopes
// and for HTTP request bodies.
std::optional<Error> parse_object(std::string_view text, rapidjson::Document& doc);

// Parses text into doc and fills env. On failure returns the error to send back; its id is
// filled in env.id_raw when the id could still be read. Text must be valid UTF-8; an id or
// type that decodes to invalid UTF-8 (a lone surrogate escape) is refused.
std::optional<Error> parse_envelope(std::string_view text, rapidjson::Document& doc,
                                    Envelope& env);

// The server's inbound parse buffers, reused from message to message: a NUL-terminated,
// zero-padded copy of the message that the envelope is parsed from in place (string values
// point into it instead of being copied out), memory pools for the document's values and
// for the parser's stacks, and the document. A message of ordinary size then costs no heap
// allocation. One per loop thread.
class ParseBuffer {
 public:
  using Pool = rapidjson::MemoryPoolAllocator<>;
  // rapidjson::Document with its parse stacks in a pool as well; its values are plain
  // rapidjson::Value.
  using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool>;

  ParseBuffer();
  ParseBuffer(const ParseBuffer&) = delete;
  ParseBuffer& operator=(const ParseBuffer&) = delete;

 private:
  friend std::optional<Error> parse_envelope(std::string_view text, Envelope& env,
                                             ParseBuffer& buf);
  // Forgets the previous message and returns a fresh document over the pools.
  Document& reset();
  // The padded copy of text to parse in place.
  char* load(std::string_view text);

  std::vector<char> text_;
  // Before the pools, which allocate from them; left uninitialized (a zero fill would cost
  // every new hub a pass over them for nothing).
  std::unique_ptr<char[]> pool_buffer_;
  std::unique_ptr<char[]> stack_buffer_;
  Pool pool_;
  Pool stack_pool_;
  std::optional<Document> doc_;
};

// parse_envelope() through a ParseBuffer: the same answers (errors included) for the same
// text, without copying the strings out or allocating. env.data points into buf: valid until
// the next parse with buf.
std::optional<Error> parse_envelope(std::string_view text, Envelope& env, ParseBuffer& buf);

}  // namespace lobbykit::protocol
