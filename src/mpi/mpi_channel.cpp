// SPDX-License-Identifier: MIT
// Byte messages between ranks over Boost.MPI.
#include <osiiso/detail/mpi_channel.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <boost/mpi/exception.hpp>
#include <boost/mpi/status.hpp>

#include <thread>

namespace osiiso::detail {

void MpiChannel::send(int dest, MpiTag tag, std::string bytes) {
  if (bytes.size() > kMaxMessage) {
    throw OsiisoError(fmt::format(
        "MpiQueue: a message of {} bytes for rank {} is larger than MPI can send at once (2 GiB)", bytes.size(), dest));
  }
  try {
    PendingSend pending{{}, std::move(bytes)};
    pending.request =
        comm_.isend(dest, static_cast<int>(tag), pending.bytes.data(), static_cast<int>(pending.bytes.size()));
    pending_.push_back(std::move(pending));
  } catch (const boost::mpi::exception& e) {
    throw OsiisoError(fmt::format("MpiQueue: cannot send to rank {}: {}", dest, e.what()));
  }
}

std::optional<MpiMessage> MpiChannel::poll() {
  const auto status = comm_.iprobe(boost::mpi::any_source, boost::mpi::any_tag);
  if (!status) return std::nullopt;
  const auto count = status->count<char>();
  MpiMessage message;
  message.source = status->source();
  message.tag = static_cast<MpiTag>(status->tag());
  message.bytes.resize(static_cast<std::size_t>(count.value_or(0)));
  comm_.recv(message.source, status->tag(), message.bytes.data(), static_cast<int>(message.bytes.size()));
  return message;
}

bool MpiChannel::progress() {
  // Sends to different ranks finish in any order.
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = it->request.test() ? pending_.erase(it) : std::next(it);
  }
  return pending_.empty();
}

bool MpiChannel::flush(Seconds timeout) {
  const auto deadline = Clock::now() + to_clock_duration(timeout);
  while (!progress()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace osiiso::detail
