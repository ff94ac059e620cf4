// SPDX-License-Identifier: MIT
// The wire format between a ProcessQueue and its workers: length-prefixed frames on dedicated
// pipes (never stdin/stdout), and the payloads of requests and error replies.
#pragma once

#include <osiiso/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace osiiso::detail {

// Largest payload either side accepts; a longer frame is an error, never an allocation.
inline constexpr std::size_t kMaxFrameSize = std::size_t{1} << 30;

enum class FrameType : std::uint8_t {
  Hello = 1,    // worker -> parent: ready to serve (payload: the worker's pid, decimal)
  Request = 2,  // parent -> worker: encode_request(name, arguments)
  Value = 3,    // worker -> parent: the result archive
  Error = 4,    // worker -> parent: encode_exception(...)
  Exit = 5,     // worker -> parent: the task called exit() (payload: the code, decimal)
  Signal = 6,   // worker -> parent: about to die of this fatal signal (payload: its number, decimal)
  // Chunked dispatch (8-15): requests queued behind the one a worker runs.
  Queued = 8,   // parent -> worker: a Request to run after those before it, reported by Begin first
  Begin = 9,    // worker -> parent: the Queued request with this id starts now (no payload)
  Cancel = 10,  // parent -> worker: drop the Queued request with this id if it has not begun (no payload)
  // Large payloads through shared memory (shared_arena.hpp); each stands for the frame above it
  // whose payload lies in an arena (payload: encode_shared_size).
  SharedRequest = 16,  // parent -> worker: a Request in the worker's request arena
  SharedValue = 17,    // worker -> parent: a Value in the worker's reply arena
  SharedArenas = 18,   // worker -> parent: its arenas' descriptor numbers (encode_arena_numbers)
};

// Whether `type` is one of the frame types above (the others are corrupt input).
[[nodiscard]] constexpr bool known_frame_type(std::uint8_t type) noexcept {
  return (type >= 1 && type <= 6) || (type >= 8 && type <= 10) || (type >= 16 && type <= 18);
}

// Every request carries its attempt's id and every reply echoes it, so that a reply is provably
// the answer to the request it settles (Hello frames carry 0).
struct Frame {
  FrameType type = FrameType::Hello;
  std::uint64_t id = 0;
  std::string payload;
};

// A malformed, truncated or oversized frame, or an I/O error on a frame pipe.
class FrameError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

// magic byte, type byte, 64-bit attempt id, 64-bit payload length.
inline constexpr std::size_t kFrameHeaderSize = 18;

// Writes the kFrameHeaderSize bytes of a header to `header`; async-signal-safe, unchecked.
void write_frame_header(char* header, FrameType type, std::uint64_t id, std::size_t size) noexcept;

// Appends one frame to `out`; throws FrameError when the payload exceeds `max_size`.
void append_frame(std::string& out, FrameType type, std::uint64_t id, std::string_view payload,
                  std::size_t max_size = kMaxFrameSize);
// Appends only the header of a frame whose payload (of `payload_size` bytes) is written separately;
// throws FrameError when it exceeds `max_size`.
void append_frame_header(std::string& out, FrameType type, std::uint64_t id, std::size_t payload_size,
                         std::size_t max_size = kMaxFrameSize);

// Blocking write of one frame; false when the pipe is gone (EPIPE etc.).
bool write_frame(int fd, FrameType type, std::uint64_t id, std::string_view payload,
                 std::size_t max_size = kMaxFrameSize);

// Blocking read of one frame; nullopt on end of file at a frame boundary. Throws FrameError on
// a truncated, corrupt or oversized frame or on an I/O error.
std::optional<Frame> read_frame(int fd, std::size_t max_size = kMaxFrameSize);

// A frame whose payload lives in a caller's buffer.
struct FrameView {
  FrameType type = FrameType::Hello;
  std::uint64_t id = 0;
  std::string_view payload;
};
// read_frame() into `buffer`, reusing its memory from one frame to the next (bytes it already
// holds are overwritten, not zero-filled again); the payload is valid until the buffer changes.
std::optional<FrameView> read_frame_into(int fd, std::string& buffer, std::size_t max_size = kMaxFrameSize);

// Incremental decoder for non-blocking readers: feed() bytes as they arrive, then take frames
// with next(). Corrupt input throws FrameError (the decoder is then unusable).
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_size = kMaxFrameSize) : max_size_(max_size) {}
  void feed(const char* data, std::size_t size);
  std::optional<Frame> next();
  // True when part of a frame has been received (end of file now means truncation).
  [[nodiscard]] bool mid_frame() const noexcept { return buffer_.size() > consumed_; }

 private:
  std::size_t max_size_;
  std::string buffer_;
  std::size_t consumed_ = 0;
};

// A request payload's two parts: the registered name and the argument archive. They are kept
// apart until the request is written, so that a task holds only its arguments, never its name.
struct RequestView {
  std::string_view name;
  std::string_view arguments;
  // Bytes of the encoded payload.
  [[nodiscard]] std::size_t encoded_size() const noexcept { return 4 + name.size() + arguments.size(); }
};
// Appends the part of the encoded payload that comes before the argument archive.
void append_request_head(std::string& out, std::string_view name);
// The encoded payload: the length-prefixed name, then the argument archive.
std::string encode_request(std::string_view name, std::string_view arguments);
inline std::string encode_request(RequestView request) { return encode_request(request.name, request.arguments); }
// Throws FrameError on a malformed payload.
RequestView decode_request(std::string_view payload);

// Error payload of the exception `error` (standard and osiiso types keep their type; others
// travel as their demangled type name and what()).
std::string encode_exception(const std::exception_ptr& error) noexcept;
// Rebuilds the exception sent by encode_exception (RemoteError for unknown types). A malformed
// payload yields a FrameError.
std::exception_ptr decode_exception(std::string_view payload);

}  // namespace osiiso::detail
