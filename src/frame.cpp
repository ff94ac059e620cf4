// SPDX-License-Identifier: MIT
// Frame encoding and decoding, and the transport of exceptions between processes.
#include <osiiso/detail/frame.hpp>

#include <osiiso/detail/demangle.hpp>
#include <osiiso/detail/fd.hpp>

#include <cxxabi.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <typeinfo>

namespace osiiso::detail {

namespace {
constexpr unsigned char kMagic = 0xA5;

void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Bounds-checked reader over an untrusted payload.
struct Reader {
  std::string_view in;
  std::uint32_t u32() {
    std::uint32_t v;
    need(sizeof v);
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::uint8_t u8() {
    need(1);
    const auto v = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  std::string_view str() {
    const auto n = u32();
    need(n);
    auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
  void need(std::size_t n) const {
    if (in.size() < n) throw FrameError("malformed payload from a ProcessQueue worker (truncated)");
  }
};

struct Header {
  FrameType type;
  std::uint64_t id;
  std::uint64_t size;
};

Header parse_header(const char* p, std::size_t max_size) {
  if (static_cast<unsigned char>(p[0]) != kMagic) {
    throw FrameError("corrupt frame on a ProcessQueue pipe (bad magic byte)");
  }
  const auto type = static_cast<std::uint8_t>(p[1]);
  if (!known_frame_type(type))
    throw FrameError(fmt::format("corrupt frame on a ProcessQueue pipe (unknown type {})", type));
  std::uint64_t id;
  std::memcpy(&id, p + 2, sizeof id);
  std::uint64_t size;
  std::memcpy(&size, p + 2 + sizeof id, sizeof size);
  if (size > max_size) {
    throw FrameError(
        fmt::format("frame of {} bytes exceeds the ProcessQueue limit of {} bytes; pass smaller arguments/results",
                    size, max_size));
  }
  return {static_cast<FrameType>(type), id, size};
}

// Error kinds on the wire; the numbers are part of the format.
enum class ErrorKind : std::uint8_t {
  Remote = 0,
  LogicError,
  InvalidArgument,
  DomainError,
  LengthError,
  OutOfRange,
  RuntimeError,
  RangeError,
  OverflowError,
  UnderflowError,
  BadAlloc,
  Osiiso = 20,
  Closed,
  QueueFull,
  Timeout,
  Cancelled,
  InvalidState,
  Registration,
  WorkerDied,
  RemoteAgain,  // an osiiso::RemoteError travelling on: keeps its type_name
};

struct KindEntry {
  const std::type_info* type;
  ErrorKind kind;
};

const KindEntry kKinds[] = {
    {&typeid(std::logic_error), ErrorKind::LogicError},
    {&typeid(std::invalid_argument), ErrorKind::InvalidArgument},
    {&typeid(std::domain_error), ErrorKind::DomainError},
    {&typeid(std::length_error), ErrorKind::LengthError},
    {&typeid(std::out_of_range), ErrorKind::OutOfRange},
    {&typeid(std::runtime_error), ErrorKind::RuntimeError},
    {&typeid(std::range_error), ErrorKind::RangeError},
    {&typeid(std::overflow_error), ErrorKind::OverflowError},
    {&typeid(std::underflow_error), ErrorKind::UnderflowError},
    {&typeid(std::bad_alloc), ErrorKind::BadAlloc},
    {&typeid(OsiisoError), ErrorKind::Osiiso},
    {&typeid(ClosedError), ErrorKind::Closed},
    {&typeid(QueueFullError), ErrorKind::QueueFull},
    {&typeid(TimeoutError), ErrorKind::Timeout},
    {&typeid(CancelledError), ErrorKind::Cancelled},
    {&typeid(InvalidStateError), ErrorKind::InvalidState},
    {&typeid(RegistrationError), ErrorKind::Registration},
    {&typeid(WorkerDiedError), ErrorKind::WorkerDied},
};

std::string error_payload(ErrorKind kind, std::string_view type_name, std::string_view what) {
  std::string out;
  out.push_back(static_cast<char>(kind));
  put_str(out, type_name);
  put_str(out, what);
  return out;
}
}  // namespace

void write_frame_header(char* header, FrameType type, std::uint64_t id, std::size_t size) noexcept {
  header[0] = static_cast<char>(kMagic);
  header[1] = static_cast<char>(type);
  std::memcpy(header + 2, &id, sizeof id);
  const std::uint64_t size64 = size;
  std::memcpy(header + 2 + sizeof id, &size64, sizeof size64);
}

namespace {
void fill_header(char (&header)[kFrameHeaderSize], FrameType type, std::uint64_t id, std::size_t size,
                 std::size_t max_size) {
  if (size > max_size) {
    throw FrameError(
        fmt::format("frame of {} bytes exceeds the ProcessQueue limit of {} bytes; pass smaller arguments/results",
                    size, max_size));
  }
  write_frame_header(header, type, id, size);
}
}  // namespace

void append_frame(std::string& out, FrameType type, std::uint64_t id, std::string_view payload, std::size_t max_size) {
  char header[kFrameHeaderSize];
  fill_header(header, type, id, payload.size(), max_size);
  out.append(header, sizeof header);
  out.append(payload);
}

void append_frame_header(std::string& out, FrameType type, std::uint64_t id, std::size_t payload_size,
                         std::size_t max_size) {
  char header[kFrameHeaderSize];
  fill_header(header, type, id, payload_size, max_size);
  out.append(header, sizeof header);
}

bool write_frame(int fd, FrameType type, std::uint64_t id, std::string_view payload, std::size_t max_size) {
  char header[kFrameHeaderSize];
  fill_header(header, type, id, payload.size(), max_size);
  // A small frame goes out in one write, so the reader wakes once per frame, not once for the
  // header and again for the payload.
  constexpr std::size_t kCoalesce = 4096;
  if (payload.size() <= kCoalesce) {
    char buffer[kFrameHeaderSize + kCoalesce];
    std::memcpy(buffer, header, sizeof header);
    std::memcpy(buffer + sizeof header, payload.data(), payload.size());
    return write_all(fd, buffer, sizeof header + payload.size());
  }
  return write_all(fd, header, sizeof header) && write_all(fd, payload.data(), payload.size());
}

std::optional<FrameView> read_frame_into(int fd, std::string& buffer, std::size_t max_size) {
  char header[kFrameHeaderSize];
  const auto n = read_full(fd, header, sizeof header);
  if (n < 0) throw FrameError(fmt::format("read from a ProcessQueue pipe failed: {}", std::strerror(errno)));
  if (n == 0) return std::nullopt;
  if (static_cast<std::size_t>(n) < sizeof header) throw FrameError("truncated frame on a ProcessQueue pipe");
  const auto h = parse_header(header, max_size);
  // The buffer grows with the bytes that actually arrive (never sized from the header alone), so
  // a corrupt length cannot make the reader allocate and touch up to max_size bytes.
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  // Reserving (not touching) up to a bounded size spares a large payload a reallocation and copy.
  const auto bounded = static_cast<std::size_t>(std::min<std::uint64_t>(h.size, 64 * kChunk));
  if (buffer.capacity() < bounded) {
    buffer.clear();
    buffer.reserve(bounded);
  }
  std::size_t have = 0;
  while (have < h.size) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(h.size - have, std::max(kChunk, have)));
    // Bytes the buffer already holds are overwritten, not zero-filled again.
    if (buffer.size() < have + want) buffer.resize(have + want);
    const auto m = read_full(fd, buffer.data() + have, want);
    if (m < 0) throw FrameError(fmt::format("read from a ProcessQueue pipe failed: {}", std::strerror(errno)));
    if (static_cast<std::size_t>(m) < want) throw FrameError("truncated frame on a ProcessQueue pipe");
    have += want;
  }
  return FrameView{h.type, h.id, std::string_view(buffer.data(), have)};
}

std::optional<Frame> read_frame(int fd, std::size_t max_size) {
  std::string buffer;
  const auto view = read_frame_into(fd, buffer, max_size);
  if (!view) return std::nullopt;
  buffer.resize(view->payload.size());
  return Frame{view->type, view->id, std::move(buffer)};
}

void FrameDecoder::feed(const char* data, std::size_t size) {
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.append(data, size);
}

std::optional<Frame> FrameDecoder::next() {
  const auto available = buffer_.size() - consumed_;
  if (available < kFrameHeaderSize) return std::nullopt;
  const auto h = parse_header(buffer_.data() + consumed_, max_size_);
  // Not reserved from the header: a corrupt length must not make the parent allocate up to
  // max_size bytes; the buffer grows geometrically with the bytes that arrive.
  if (available - kFrameHeaderSize < h.size) return std::nullopt;
  Frame frame{h.type, h.id, buffer_.substr(consumed_ + kFrameHeaderSize, h.size)};
  consumed_ += kFrameHeaderSize + h.size;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    buffer_.shrink_to_fit();
    consumed_ = 0;
  }
  return frame;
}

void append_request_head(std::string& out, std::string_view name) { put_str(out, name); }

std::string encode_request(std::string_view name, std::string_view arguments) {
  std::string out;
  out.reserve(RequestView{name, arguments}.encoded_size());
  append_request_head(out, name);
  out.append(arguments);
  return out;
}

RequestView decode_request(std::string_view payload) {
  Reader r{payload};
  const auto name = r.str();
  return {name, r.in};
}

std::string encode_exception(const std::exception_ptr& error) noexcept {
  try {
    try {
      std::rethrow_exception(error);
    } catch (const RemoteError& e) {
      return error_payload(ErrorKind::RemoteAgain, e.type_name(), e.what());
    } catch (const std::exception& e) {
      const auto& type = typeid(e);
      for (const auto& entry : kKinds) {
        if (*entry.type == type) return error_payload(entry.kind, {}, e.what());
      }
      return error_payload(ErrorKind::Remote, demangle(type.name()), e.what());
    } catch (...) {
      const auto* type = abi::__cxa_current_exception_type();
      const auto name = type != nullptr ? demangle(type->name()) : std::string("unknown");
      return error_payload(ErrorKind::Remote, name, fmt::format("exception of type {}", name));
    }
  } catch (...) {
    // Out of memory while describing the error: send something fixed.
    return std::string(1, static_cast<char>(ErrorKind::BadAlloc)) + std::string(8, '\0');
  }
}

std::exception_ptr decode_exception(std::string_view payload) {
  try {
    Reader r{payload};
    const auto kind = static_cast<ErrorKind>(r.u8());
    const std::string type(r.str());
    const std::string what(r.str());
    switch (kind) {
      case ErrorKind::Remote:
      case ErrorKind::RemoteAgain: return std::make_exception_ptr(RemoteError(type, what));
      case ErrorKind::LogicError: return std::make_exception_ptr(std::logic_error(what));
      case ErrorKind::InvalidArgument: return std::make_exception_ptr(std::invalid_argument(what));
      case ErrorKind::DomainError: return std::make_exception_ptr(std::domain_error(what));
      case ErrorKind::LengthError: return std::make_exception_ptr(std::length_error(what));
      case ErrorKind::OutOfRange: return std::make_exception_ptr(std::out_of_range(what));
      case ErrorKind::RuntimeError: return std::make_exception_ptr(std::runtime_error(what));
      case ErrorKind::RangeError: return std::make_exception_ptr(std::range_error(what));
      case ErrorKind::OverflowError: return std::make_exception_ptr(std::overflow_error(what));
      case ErrorKind::UnderflowError: return std::make_exception_ptr(std::underflow_error(what));
      case ErrorKind::BadAlloc: return std::make_exception_ptr(std::bad_alloc());
      case ErrorKind::Osiiso: return std::make_exception_ptr(OsiisoError(what));
      case ErrorKind::Closed: return std::make_exception_ptr(ClosedError(what));
      case ErrorKind::QueueFull: return std::make_exception_ptr(QueueFullError(what));
      case ErrorKind::Timeout: return std::make_exception_ptr(TimeoutError(what));
      case ErrorKind::Cancelled: return std::make_exception_ptr(CancelledError(what));
      case ErrorKind::InvalidState: return std::make_exception_ptr(InvalidStateError(what));
      case ErrorKind::Registration: return std::make_exception_ptr(RegistrationError(what));
      case ErrorKind::WorkerDied: return std::make_exception_ptr(WorkerDiedError(what));
    }
    throw FrameError(
        fmt::format("malformed error payload from a ProcessQueue worker (kind {})", static_cast<int>(kind)));
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace osiiso::detail
