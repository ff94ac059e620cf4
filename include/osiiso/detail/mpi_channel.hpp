// SPDX-License-Identifier: MIT
// Byte messages between ranks over Boost.MPI: non-blocking sends (two ranks sending large
// messages to each other must not deadlock in MPI_Send), and iprobe + recv of whatever arrived
// (Boost.MPI's serialized irecv from any source truncates: boostorg/mpi#63).
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/mpi_protocol.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/request.hpp>

#include <deque>
#include <optional>
#include <string>

namespace osiiso::detail {

struct MpiMessage {
  int source = 0;
  MpiTag tag = MpiTag::Heartbeat;
  std::string bytes;
};

class MpiChannel {
 public:
  // The largest message MPI can carry (its counts are ints).
  static constexpr std::size_t kMaxMessage = 0x7fffffff;
  // Jobs or replies for one rank go out once their batch reaches this size.
  static constexpr std::size_t kBatchBytes = std::size_t{64} << 20;
  // The largest request or reply payload one task may have: its batch's framing must fit too.
  static constexpr std::size_t kMaxPayload = kMaxMessage - 4096;

  explicit MpiChannel(boost::mpi::communicator comm) : comm_(std::move(comm)) {}
  MpiChannel(const MpiChannel&) = delete;
  MpiChannel& operator=(const MpiChannel&) = delete;

  // Starts sending `bytes` to `dest`; the channel keeps them until the send completes. Throws
  // OsiisoError for a message MPI cannot carry (2 GiB and more) or a failing MPI call.
  void send(int dest, MpiTag tag, std::string bytes);
  // The next message that arrived from any rank, if any.
  std::optional<MpiMessage> poll();
  // Completes finished sends; true when none is left.
  bool progress();
  // Completes sends until none is left or `timeout` passed; true when none is left.
  bool flush(Seconds timeout);
  // This process's rank and the number of ranks.
  [[nodiscard]] int rank() const { return comm_.rank(); }
  [[nodiscard]] int size() const { return comm_.size(); }

 private:
  struct PendingSend {
    boost::mpi::request request;
    std::string bytes;
  };

  boost::mpi::communicator comm_;
  std::deque<PendingSend> pending_;
};

}  // namespace osiiso::detail
