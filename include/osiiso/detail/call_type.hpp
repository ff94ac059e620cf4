// SPDX-License-Identifier: MIT
// osiiso::Call, the type of one deferred call of a heterogeneous group; osiiso::call(), which
// makes one, is in <osiiso/call.hpp>. Kept light so that a queue's header does not pull in what
// a process task needs.
#pragma once

#include <osiiso/detail/prepared_task.hpp>
#include <osiiso/errors.hpp>

#include <functional>
#include <string>

namespace osiiso {

class Call;

template <class F, class... A>
Call call(F&& f, A&&... args);

/// A callable and its arguments, to be submitted as one task of `group({call(f, x), call(g, y)})`.
class Call {
 public:
  /// The task as a ThreadQueue runs it.
  [[nodiscard]] detail::PreparedTask prepare_for_threads() const { return threads_(); }
  /// The task as a ProcessQueue runs it; throws RegistrationError when it cannot cross a process boundary.
  [[nodiscard]] detail::PreparedTask prepare_for_processes() const {
    if (!processes_) {
      throw RegistrationError("ProcessQueue::group(): '" + name_ +
                              "' cannot run in a worker process; pass a function registered with OSIISO_TASK "
                              "whose arguments Boost.Serialization can save, not a lambda or closure");
    }
    return processes_();
  }

 private:
  template <class F, class... A>
  friend Call call(F&& f, A&&... args);

  std::string name_;
  std::function<detail::PreparedTask()> threads_;
  std::function<detail::PreparedTask()> processes_;
};

}  // namespace osiiso
