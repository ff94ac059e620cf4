// SPDX-License-Identifier: MIT
// Compile-time detection of the types Boost.Serialization can carry between processes.
#pragma once

#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/serialization.hpp>
#include <boost/serialization/version.hpp>

#include <array>
#include <bitset>
#include <complex>
#include <concepts>
#include <deque>
#include <forward_list>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <valarray>
#include <vector>

namespace osiiso {

template <class T>
struct is_serializable;

namespace detail::serial {

using ProbeArchive = boost::archive::binary_oarchive;

// A class has a member named `serialize` (of any access, as Boost's `friend class access`
// idiom makes it private) when naming it through a class that also inherits a probe member
// named `serialize` is ambiguous.
struct SerializeProbe {
  void serialize();
};
template <class T>
struct ProbeDerived : T, SerializeProbe {};
template <class T>
concept probe_unambiguous = requires {
  &ProbeDerived<T>::serialize;
};
template <class T>
concept public_member_serialize = requires(ProbeArchive& ar, T& t) {
  t.serialize(ar, 0u);
};
template <class T>
concept member_serialize = public_member_serialize<T> ||
    (std::is_class_v<T> && !std::is_final_v<T> && !probe_unambiguous<T>);

// A free serialize(), in the type's namespace or in boost::serialization. Called the way Boost
// calls it (a version_type argument makes boost::serialization an associated namespace) with a
// probe archive for which a declared-only overload beats Boost's catch-all template. A user
// overload for T is then exactly as specialized as the probe overload: the call is ambiguous.
struct ProbeOnlyArchive {};
struct ProbeMarker {};

}  // namespace detail::serial
}  // namespace osiiso

namespace boost::serialization {
template <class T>
::osiiso::detail::serial::ProbeMarker serialize(::osiiso::detail::serial::ProbeOnlyArchive&, T&, const unsigned int);
}  // namespace boost::serialization

namespace osiiso {
namespace detail::serial {

void serialize() = delete;
template <class T>
concept free_serialize = !requires(ProbeOnlyArchive & ar, T& t) {
  { serialize(ar, t, boost::serialization::version_type(0)) } -> std::same_as<ProbeMarker>;
};

template <class T>
inline constexpr bool user_class = std::is_class_v<T> && (member_serialize<T> || free_serialize<T>);

// Standard types with a Boost.Serialization header, element types checked recursively.
template <bool B>
struct Known : std::bool_constant<B> {
  static constexpr bool known = true;
};
template <class T>
struct standard : std::false_type {
  static constexpr bool known = false;
};
template <class C, class Tr, class A>
struct standard<std::basic_string<C, Tr, A>> : Known<true> {};
template <class T, class A>
struct standard<std::vector<T, A>> : Known<is_serializable<T>::value> {};
template <class T, class A>
struct standard<std::list<T, A>> : Known<is_serializable<T>::value> {};
template <class T, class A>
struct standard<std::deque<T, A>> : Known<is_serializable<T>::value> {};
template <class T, class A>
struct standard<std::forward_list<T, A>> : Known<is_serializable<T>::value> {};
template <class T, std::size_t N>
struct standard<std::array<T, N>> : Known<is_serializable<T>::value> {};
template <class T>
struct standard<std::valarray<T>> : Known<is_serializable<T>::value> {};
template <class T>
struct standard<std::complex<T>> : Known<true> {};
template <std::size_t N>
struct standard<std::bitset<N>> : Known<true> {};
template <class K, class C, class A>
struct standard<std::set<K, C, A>> : Known<is_serializable<K>::value> {};
template <class K, class C, class A>
struct standard<std::multiset<K, C, A>> : Known<is_serializable<K>::value> {};
template <class K, class H, class E, class A>
struct standard<std::unordered_set<K, H, E, A>> : Known<is_serializable<K>::value> {};
template <class K, class H, class E, class A>
struct standard<std::unordered_multiset<K, H, E, A>> : Known<is_serializable<K>::value> {};
template <class K, class V, class C, class A>
struct standard<std::map<K, V, C, A>> : Known<is_serializable<K>::value && is_serializable<V>::value> {};
template <class K, class V, class C, class A>
struct standard<std::multimap<K, V, C, A>> : Known<is_serializable<K>::value && is_serializable<V>::value> {};
template <class K, class V, class H, class E, class A>
struct standard<std::unordered_map<K, V, H, E, A>> : Known<is_serializable<K>::value && is_serializable<V>::value> {};
template <class K, class V, class H, class E, class A>
struct standard<std::unordered_multimap<K, V, H, E, A>>
    : Known<is_serializable<K>::value && is_serializable<V>::value> {};
template <class A, class B>
struct standard<std::pair<A, B>> : Known<is_serializable<A>::value && is_serializable<B>::value> {};
template <class T>
struct standard<std::shared_ptr<T>> : Known<std::is_class_v<T> && user_class<T>> {};
template <class T>
struct standard<std::unique_ptr<T>> : Known<std::is_class_v<T> && user_class<T>> {};

template <class T>
constexpr bool detect() {
  if constexpr (std::is_reference_v<T> || std::is_pointer_v<T> || std::is_const_v<T> || std::is_volatile_v<T>) {
    return false;
  } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
    return true;
  } else if constexpr (standard<T>::known) {
    return standard<T>::value;
  } else {
    return user_class<T>;
  }
}

}  // namespace detail::serial

/**
 * True when T can cross a process boundary: fundamentals, enums, std::string, standard
 * containers of such types, and classes with a Boost.Serialization `serialize` (member, free
 * by ADL, or in namespace boost::serialization). Specialize it as std::true_type for a type
 * serialized some other way Boost accepts (e.g. split free save/load without `serialize`).
 */
template <class T>
struct is_serializable : std::bool_constant<detail::serial::detect<T>()> {};

/// Shorthand for is_serializable<T>::value.
template <class T>
inline constexpr bool is_serializable_v = is_serializable<T>::value;

}  // namespace osiiso
