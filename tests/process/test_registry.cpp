// SPDX-License-Identifier: MIT
// OSIISO_TASK registration, the serializability checks, the invoker and the worker loop.
#include <osiiso/awaitable.hpp>
#include <osiiso/registry.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/errors.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/serialization/access.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <cctype>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace regtest {

struct Point {
  int x = 0;
  int y = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& x& y;
  }
};

class Private {
 public:
  int v = 0;

 private:
  friend class boost::serialization::access;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& v;
  }
};

struct FreeSerialized {
  double d = 0;
};
template <class Archive>
void serialize(Archive& ar, FreeSerialized& f, unsigned) {
  ar& f.d;
}

struct NotSerializable {
  int x = 0;
};

int square(int n) { return n * n; }
int add(int a, int b) { return a + b; }
std::string greet(const std::string& name, std::string greeting) { return greeting + ", " + name + "!"; }
Point move_point(Point p, int dx) { return {p.x + dx, p.y}; }
int private_value(const Private& p) { return p.v; }
double free_value(FreeSerialized f) { return f.d; }
std::map<std::string, std::vector<int>> histogram(std::vector<std::string> words) {
  std::map<std::string, std::vector<int>> out;
  for (std::size_t i = 0; i < words.size(); ++i) out[words[i]].push_back(static_cast<int>(i));
  return out;
}
int touched = 0;
void touch(int n) { touched = n; }
boost::asio::awaitable<int> async_double(int x) {
  co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
  co_return x * 2;
}
boost::asio::awaitable<void> async_nothing() { co_return; }
std::future<std::string> deferred(int n) {
  return std::async(std::launch::async, [n] { return std::to_string(n); });
}
int throws_range(int) { throw std::out_of_range("index 9 out of range"); }
int noexcept_fn(int x) noexcept { return x + 1; }
int never_registered(int x) { return x; }
int other_square(int n) { return n * n; }
template <class T>
T twice(T v) {
  return v + v;
}
double overloaded(double x) { return x; }
int overloaded(int x) { return x; }

}  // namespace regtest

OSIISO_TASK(regtest::square);
OSIISO_TASK_AS("reg.add", regtest::add);
OSIISO_TASK_AS("reg.greet", regtest::greet);
OSIISO_TASK_AS("reg.move_point", regtest::move_point);
OSIISO_TASK_AS("reg.private_value", regtest::private_value);
OSIISO_TASK_AS("reg.free_value", regtest::free_value);
OSIISO_TASK_AS("reg.histogram", regtest::histogram);
OSIISO_TASK_AS("reg.touch", regtest::touch);
OSIISO_TASK_AS("reg.async_double", regtest::async_double);
OSIISO_TASK_AS("reg.async_nothing", regtest::async_nothing);
OSIISO_TASK_AS("reg.deferred", regtest::deferred);
OSIISO_TASK_AS("reg.throws_range", regtest::throws_range);
OSIISO_TASK_AS("reg.noexcept_fn", regtest::noexcept_fn);
OSIISO_TASK_AS("reg.twice<int>", regtest::twice<int>);
OSIISO_TASK_AS("reg.overloaded(int)", static_cast<int (*)(int)>(regtest::overloaded));
OSIISO_TASK_AS("reg.add", regtest::add);  // the same function again under the same name is fine

namespace {

using osiiso::detail::ProcessWork;

// Runs a prepared task through its registered invoker in this process, as a worker would.
template <class F, class... A>
std::any run_here(F fn, A&&... args) {
  auto prepared = osiiso::detail::make_process_work(fn, std::forward<A>(args)...);
  auto& work = static_cast<ProcessWork&>(*prepared.work);
  const auto request = work.request();
  const auto* entry = osiiso::detail::Registry::instance().find(request.name);
  REQUIRE(entry != nullptr);
  std::string result;
  entry->invoke(request.arguments, result);
  return work.decode(result);
}

// Compile-time rules.
static_assert(osiiso::is_serializable_v<int>);
static_assert(osiiso::is_serializable_v<std::string>);
static_assert(osiiso::is_serializable_v<std::vector<std::map<std::string, double>>>);
static_assert(osiiso::is_serializable_v<regtest::Point>);
static_assert(osiiso::is_serializable_v<regtest::Private>);
static_assert(osiiso::is_serializable_v<regtest::FreeSerialized>);
static_assert(!osiiso::is_serializable_v<regtest::NotSerializable>);
static_assert(!osiiso::is_serializable_v<std::vector<regtest::NotSerializable>>);
static_assert(!osiiso::is_serializable_v<int*>);
static_assert(!osiiso::is_serializable_v<std::function<void()>>);
static_assert(std::is_same_v<osiiso::process_result_t<decltype(&regtest::async_double), int>, int>);
static_assert(std::is_same_v<osiiso::process_result_t<decltype(&regtest::deferred), int>, std::string>);
static_assert(std::is_same_v<osiiso::process_result_t<decltype(&regtest::touch), int>, void>);
static_assert(osiiso::ProcessSubmittable<decltype(&regtest::square), int>);
static_assert(osiiso::ProcessSubmittable<decltype(&regtest::greet), const char*, const char*>);
static_assert(!osiiso::ProcessSubmittable<decltype(&regtest::square), std::string>);
static_assert(!osiiso::ProcessSubmittable<decltype(&regtest::square)>);
static_assert(!osiiso::ProcessSubmittable<decltype([](int x) { return x; }), int>);
static_assert(!osiiso::ProcessSubmittable<regtest::NotSerializable (*)(int), int>);
static_assert(!osiiso::ProcessSubmittable<int (*)(regtest::NotSerializable), regtest::NotSerializable>);
// A rejected lambda keeps its result type, so that the code after the call compiles and the rejection
// is the only error (tests/compile_fail/process_lambda.cpp).
static_assert(std::is_same_v<osiiso::process_result_t<decltype([](int x) { return x; }), int>, int>);

}  // namespace

TEST_CASE("registered names", "[registry]") {
  CHECK(*osiiso::detail::registered_name(&regtest::square) == "regtest::square");
  CHECK(*osiiso::detail::registered_name(&regtest::add) == "reg.add");
  CHECK(*osiiso::detail::registered_name(&regtest::noexcept_fn) == "reg.noexcept_fn");
  CHECK(osiiso::detail::registered_name(&regtest::never_registered) == nullptr);
}

TEST_CASE("a name registered for a different function is rejected", "[registry]") {
  auto& registry = osiiso::detail::Registry::instance();
  const auto entry = osiiso::detail::make_registered_task<&regtest::other_square>("reg.add");
  CHECK_THROWS_AS(registry.add(entry), osiiso::RegistrationError);
  CHECK_THROWS_WITH(registry.add(entry), Catch::Contains("'reg.add' is already registered"));
  CHECK(registry.find("reg.add")->function == reinterpret_cast<osiiso::detail::AnyFunction>(&regtest::add));
}

TEST_CASE("an unregistered function is a RegistrationError at submission", "[registry][unregistered]") {
  CHECK_THROWS_AS(osiiso::detail::make_process_work(regtest::never_registered, 1), osiiso::RegistrationError);
  // This program does not export its functions: the message can name the type only.
  CHECK_THROWS_WITH(osiiso::detail::make_process_work(regtest::never_registered, 1),
                    "ProcessQueue::submit(): a function of type 'int (*)(int)' is not registered: add "
                    "OSIISO_TASK(<its name>) at namespace scope in a source file linked into the program (its name "
                    "is not known here: only functions exported from a shared library, or from a program linked "
                    "with -rdynamic, can be named)");
}

TEST_CASE("the invoker decodes arguments, calls and encodes results", "[registry]") {
  CHECK(std::any_cast<int>(run_here(regtest::square, 7)) == 49);
  CHECK(std::any_cast<int>(run_here(regtest::add, 2, 3)) == 5);
  CHECK(std::any_cast<std::string>(run_here(regtest::greet, "Ada", "Hello")) == "Hello, Ada!");
  const auto p = std::any_cast<regtest::Point>(run_here(regtest::move_point, regtest::Point{1, 2}, 10));
  CHECK(p.x == 11);
  CHECK(p.y == 2);
  regtest::Private priv;
  priv.v = 17;
  CHECK(std::any_cast<int>(run_here(regtest::private_value, priv)) == 17);
  CHECK(std::any_cast<double>(run_here(regtest::free_value, regtest::FreeSerialized{2.5})) == 2.5);
  const auto h = std::any_cast<std::map<std::string, std::vector<int>>>(
      run_here(regtest::histogram, std::vector<std::string>{"a", "b", "a"}));
  CHECK(h.at("a") == std::vector<int>{0, 2});
  CHECK_FALSE(run_here(regtest::touch, 5).has_value());
  CHECK(regtest::touched == 5);
  CHECK(std::any_cast<int>(run_here(regtest::async_double, 21)) == 42);
  CHECK_FALSE(run_here(regtest::async_nothing).has_value());
  CHECK(std::any_cast<std::string>(run_here(regtest::deferred, 12)) == "12");
  CHECK(std::any_cast<int>(run_here(regtest::noexcept_fn, 1)) == 2);
  CHECK(std::any_cast<int>(run_here(regtest::twice<int>, 4)) == 8);
  CHECK(std::any_cast<int>(run_here(static_cast<int (*)(int)>(regtest::overloaded), 4)) == 4);
  // Arguments are converted to the parameter types before they are serialized.
  CHECK(std::any_cast<int>(run_here(regtest::square, 3.9)) == 9);
  CHECK_THROWS_AS(run_here(regtest::throws_range, 1), std::out_of_range);
}

TEST_CASE("the invoker rejects a corrupt argument archive", "[registry]") {
  const auto* entry = osiiso::detail::Registry::instance().find("reg.add");
  REQUIRE(entry != nullptr);
  std::string result;
  CHECK_THROWS_AS(entry->invoke("x", result), osiiso::detail::SerializationError);
}

TEST_CASE("the worker loop serves requests until end of file", "[registry][worker]") {
  auto requests = osiiso::detail::make_pipe();
  auto replies = osiiso::detail::make_pipe();
  int code = -1;
  std::thread worker([&] { code = osiiso::detail::serve_requests(requests.read.get(), replies.write.get()); });
  using osiiso::detail::FrameType;
  const auto hello = osiiso::detail::read_frame(replies.read.get());
  REQUIRE(hello);
  CHECK(hello->type == FrameType::Hello);
  const auto arenas = osiiso::detail::read_frame(replies.read.get());
  REQUIRE(arenas);
  CHECK(arenas->type == FrameType::SharedArenas);

  auto ask = [&](const std::string& request) {
    REQUIRE(osiiso::detail::write_frame(requests.write.get(), FrameType::Request, 0, request));
    auto reply = osiiso::detail::read_frame(replies.read.get());
    REQUIRE(reply);
    return *reply;
  };
  auto prepared = osiiso::detail::make_process_work(regtest::add, 40, 2);
  auto& work = static_cast<ProcessWork&>(*prepared.work);
  const auto ok = ask(osiiso::detail::encode_request(work.request()));
  REQUIRE(ok.type == FrameType::Value);
  CHECK(std::any_cast<int>(work.decode(ok.payload)) == 42);

  const auto unknown = ask(osiiso::detail::encode_request("no_such_task", ""));
  REQUIRE(unknown.type == FrameType::Error);
  CHECK_THROWS_WITH(std::rethrow_exception(osiiso::detail::decode_exception(unknown.payload)),
                    Catch::Contains("'no_such_task'") && Catch::Contains("OSIISO_TASK"));

  auto failing = osiiso::detail::make_process_work(regtest::throws_range, 1);
  const auto error = ask(osiiso::detail::encode_request(static_cast<ProcessWork&>(*failing.work).request()));
  REQUIRE(error.type == FrameType::Error);
  CHECK_THROWS_AS(std::rethrow_exception(osiiso::detail::decode_exception(error.payload)), std::out_of_range);

  const auto corrupt = ask(osiiso::detail::encode_request("reg.add", "zz"));
  REQUIRE(corrupt.type == FrameType::Error);
  CHECK_THROWS_WITH(std::rethrow_exception(osiiso::detail::decode_exception(corrupt.payload)),
                    Catch::Contains("task 'reg.add'") && Catch::Contains("arguments could not be deserialized"));

  // Still serving after errors.
  const auto again = ask(osiiso::detail::encode_request(work.request()));
  CHECK(again.type == FrameType::Value);

  requests.write.reset();
  worker.join();
  CHECK(code == 0);
}

TEST_CASE("an unregistered function is named when the dynamic symbol table has it", "[registry][unregistered]") {
  // toupper lives in the C library, whose symbols are exported.
  CHECK_THROWS_WITH(osiiso::detail::make_process_work(static_cast<int (*)(int)>(::toupper), 'a'),
                    "ProcessQueue::submit(): function 'toupper' (int (*)(int)) is not registered: add "
                    "OSIISO_TASK(toupper) at namespace scope in a source file linked into the program");
}
