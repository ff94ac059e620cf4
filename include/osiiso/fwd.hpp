// SPDX-License-Identifier: MIT
// Forward declarations of the handle and group templates.
#pragma once

#include <any>

namespace osiiso {

/// A typed handle on one submitted task; `SyncTaskHandle<>` is the type-erased form.
template <class R = std::any>
class SyncTaskHandle;

/// A batch of handles submitted together; `SyncTaskGroup<>` holds mixed result types.
template <class R = std::any>
class SyncTaskGroup;

}  // namespace osiiso
