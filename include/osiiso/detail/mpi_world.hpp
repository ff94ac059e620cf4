// SPDX-License-Identifier: MIT
// This process's MPI environment, set up by osiiso::mpi::init: the channel every MpiQueue
// message goes through, each rank's host name, the ranks found lost, and the one queue at a
// time that may use the serving ranks.
#pragma once

#include <osiiso/detail/mpi_channel.hpp>

#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace osiiso::detail {

class MpiWorld {
 public:
  // The environment after osiiso::mpi::init and before finalize; nullptr otherwise.
  static MpiWorld* get() noexcept;

  MpiWorld(MpiChannel& channel, std::vector<std::string> hosts) : channel_(channel), hosts_(std::move(hosts)) {}
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  [[nodiscard]] MpiChannel& channel() noexcept { return channel_; }
  [[nodiscard]] int rank() const { return channel_.rank(); }
  [[nodiscard]] int size() const { return channel_.size(); }
  // The host name of `rank` ("" when unknown).
  [[nodiscard]] const std::string& host(int rank) const;

  // A rank that stopped answering is never sent anything again.
  void mark_lost(int rank);
  [[nodiscard]] bool lost(int rank) const;

  // Claims the serving ranks for one queue; InvalidStateError while another queue holds them.
  void claim();
  void release() noexcept;

 private:
  MpiChannel& channel_;
  std::vector<std::string> hosts_;
  mutable std::mutex mu_;
  std::set<int> lost_;
  bool claimed_ = false;
};

}  // namespace osiiso::detail
