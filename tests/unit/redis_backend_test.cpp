// What only the Redis backend must do, against real redis-server processes.

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <thread>

#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/stopped_server.hpp"
#include "../support/test_server.hpp"
#include "../support/test_support.hpp"
#include "backends/redis/redis_client.hpp"
#include "backends/redis/redis_url.hpp"

using namespace std::chrono_literals;
using cachier::test::redis_server;

namespace {

std::string unique_prefix() {
    static int n = 0;
    return "t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

cachier::options on(const std::string& url) {
    cachier::options o;
    o.backend = cachier::redis_backend(url);
    o.enable_metrics = true;
    return o;
}

std::string url_error_part(const std::string& url) {
    try {
        (void)cachier::detail::redis::options_from_url(url);
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.part();
    }
    return "no error";
}

}  // namespace

TEST(RedisUrl, ParsesEveryPart) {
    const auto o = cachier::detail::redis::options_from_url(
        "redis://alice:p%40ss@cache.local:6380/3?prefix=app&pool_size=4&connect_timeout=500ms&command_timeout=2s"
        "&entry_ttl=1h");
    EXPECT_EQ(o.host, "cache.local");
    EXPECT_EQ(o.port, 6380);
    EXPECT_EQ(o.db, 3);
    EXPECT_EQ(o.user, "alice");
    EXPECT_EQ(o.password, "p@ss");
    EXPECT_EQ(o.prefix, "app");
    EXPECT_EQ(o.pool.size, 4U);
    EXPECT_EQ(o.connect_timeout.get(), 500ms);
    EXPECT_EQ(o.command_timeout.get(), 2s);
    EXPECT_EQ(o.entry_ttl->get(), 1h);
    const auto unix_socket = cachier::detail::redis::options_from_url("redis+unix:///run/redis.sock?db=2");
    EXPECT_EQ(unix_socket.unix_socket, "/run/redis.sock");
    EXPECT_EQ(unix_socket.db, 2);
    const auto password_only = cachier::detail::redis::options_from_url("redis://:hunter2@h");
    EXPECT_EQ(password_only.user, "");
    EXPECT_EQ(password_only.password, "hunter2");
    EXPECT_EQ(password_only.port, 6379);
}

TEST(RedisUrl, ErrorsNameThePartAndHideThePassword) {
    EXPECT_EQ(url_error_part("redis://:hunter2@host:99999/0"), "port");
    EXPECT_EQ(url_error_part("redis://:hunter2@host:6379/zero"), "db");
    EXPECT_EQ(url_error_part("redis://:hunter2@/0"), "host");
    EXPECT_EQ(url_error_part("redis://:hunter2@host/0?colour=blue"), "query");
    EXPECT_EQ(url_error_part("redis://:hunter2@host/0?pool_size=0"), "pool_size");
    EXPECT_EQ(url_error_part("redis://:hunter2@host/0?connect_timeout=soon"), "connect_timeout");
    EXPECT_EQ(url_error_part("redis+unix://host/x"), "host");
}

TEST(RedisUrl, TlsIsAClearErrorInThisBuild) {
    try {
        (void)cachier::backend_from_url("rediss://:hunter2@127.0.0.1:6380/0");
        FAIL();
    } catch (const cachier::backend_not_built& e) {
        EXPECT_NE(std::string(e.what()).find("TLS"), std::string::npos);
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
    }
}

TEST(RedisBackend, SixProcessesRacingOnAColdKeyComputeItOnce) {
    redis_server server;
    cachier::test::scratch_dir scratch;
    const auto log = scratch.path() / "calls.log";
    const std::string url = server.url() + "/0?prefix=" + unique_prefix();
    std::vector<std::unique_ptr<cachier::test::worker_process>> workers;
    for (int i = 0; i < 6; ++i)
        workers.push_back(std::make_unique<cachier::test::worker_process>(
            std::vector<std::string>{"compute", url, "redis.race", "8", "300", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0);
    const auto lines = cachier::test::read_lines(log);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const auto& l) { return l.rfind("computed", 0) == 0; }), 1);
}

TEST(RedisBackend, ServerRestartedMidRunLosesNoCall) {
    cachier::test::log_capture logs;
    redis_server server;
    auto o = on(server.url() + "/0?prefix=" + unique_prefix() + "&connect_timeout=200ms&command_timeout=200ms");
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        "redis.restart",
        [&](int x) {
            ++computed;
            return x * 7;
        },
        o);
    const auto [calls, wrong] = cachier::test::call_through(f, [&] {
        std::this_thread::sleep_for(300ms);
        server.stop();
        std::this_thread::sleep_for(400ms);
        server.start();  // empty: every value is computed again
        std::this_thread::sleep_for(600ms);
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(calls, 100);
    EXPECT_GT(f.metrics().backend_errors, 0U) << "the outage was not reported";
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
    // Reconnected by itself: values are stored and hit again.
    const int before = computed;
    EXPECT_EQ(f(1000), 7000);
    EXPECT_EQ(f(1000), 7000);
    EXPECT_EQ(computed, before + 1);
}

TEST(RedisBackend, ServerDownAtStartThenUp) {
    redis_server server;
    const std::string url = server.url() + "/0?prefix=" + unique_prefix() + "&connect_timeout=200ms";
    server.stop();
    cachier::test::log_capture logs;
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        "redis.down_at_start",
        [&](int x) {
            ++computed;
            return x + 1;
        },
        on(url));
    EXPECT_EQ(f(1), 2);
    EXPECT_EQ(f(1), 2);
    EXPECT_EQ(computed, 2);
    EXPECT_TRUE(logs.contains("redis", cachier::log_level::warning));
    server.start();
    ASSERT_TRUE(cachier::test::eventually(
        [&] {
            f(2);
            return computed >= 3 && f.metrics().hits > 0;
        },
        5s))
        << "did not reconnect";
}

TEST(RedisBackend, FunctionNamesWithGlobCharactersAreClearedAlone) {
    redis_server server;
    const std::string url = server.url() + "/0?prefix=" + unique_prefix();
    std::atomic<int> computed{0};
    auto fn = [&](int x) {
        ++computed;
        return x;
    };
    const std::vector<std::string> names{"f*", "f", "fx", "f?", "f[ab]", "fa", "f:x", "f\\"};
    std::vector<decltype(cachier::cachier("", fn, on(url)))> functions;
    for (const auto& name : names) functions.push_back(cachier::cachier(name, fn, on(url)));
    for (auto& f : functions) f(1);
    ASSERT_EQ(computed, static_cast<int>(names.size()));
    functions[0].clear_cache();  // "f*"
    functions[3].clear_cache();  // "f?"
    functions[4].clear_cache();  // "f[ab]"
    for (auto& f : functions) f(1);
    EXPECT_EQ(computed, static_cast<int>(names.size()) + 3) << "clearing a glob-like name touched other functions";
    EXPECT_EQ(functions[1].metrics().entry_count.value_or(0), 1U);
}

// A server holding many other keys spreads one function's keys over many SCAN batches; eviction
// must still see them in the order they were used.
TEST(RedisBackend, EvictionKeepsTheNewestWhenTheServerHoldsManyOtherKeys) {
    redis_server server;
    cachier::detail::redis::connection raw(cachier::detail::redis::options_from_url(server.url()));
    std::vector<std::string> others;
    for (int i = 0; i < 50'000; ++i) others.push_back("other:" + std::to_string(i));
    for (std::size_t first = 0; first < others.size(); first += 5'000) {
        std::vector<std::vector<std::string_view>> commands;
        for (std::size_t i = first; i < first + 5'000; ++i) commands.push_back({"SET", others[i], "x"});
        raw.pipeline(commands);
    }
    const std::string url = server.url() + "/0?prefix=" + unique_prefix();
    auto store = cachier::redis_backend(url);
    cachier::options o;
    o.backend = store;
    auto f = cachier::cachier("evicted", [](std::int64_t x) { return x; }, o);
    for (std::int64_t i = 0; i < 20; ++i) {
        f(i);
        std::this_thread::sleep_for(2ms);  // apart by more than a round trip's asymmetry
    }
    const auto report = cachier::evict_least_recently_used(*store, f.name(), {5, std::nullopt});
    EXPECT_EQ(report.removed, 15U);
    for (std::int64_t i = 15; i < 20; ++i) EXPECT_TRUE(f.peek(i).has_value()) << "value " << i << " was evicted";
}

TEST(RedisBackend, PasswordsWorkAndNeverAppearInMessages) {
    redis_server server("--requirepass hunter2secret");
    const std::string base = server.url().substr(std::string("redis://").size());
    cachier::test::log_capture logs;
    auto good = cachier::cachier("redis.auth", [](int x) { return x; }, on("redis://:hunter2secret@" + base + "/0"));
    EXPECT_EQ(good(1), 1);
    EXPECT_EQ(good(1), 1);
    EXPECT_EQ(good.metrics().hits, 1U);

    auto bad = cachier::cachier("redis.auth", [](int x) { return x; }, on("redis://:wrong-hunter2@" + base + "/0"));
    EXPECT_EQ(bad(1), 1);
    EXPECT_GT(bad.metrics().backend_errors, 0U);
    for (const auto& message : logs.messages(cachier::log_level::debug)) {
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    }
}

TEST(RedisBackend, ValueLargerThanTheServerAcceptsIsReportedAndReturned) {
    redis_server server("--proto-max-bulk-len 1mb");
    cachier::test::log_capture logs;
    auto f = cachier::cachier(
        "redis.too_large", [](int n) { return std::string(static_cast<std::size_t>(n), 'z'); },
        on(server.url() + "/0?prefix=" + unique_prefix()));
    EXPECT_EQ(f(2 << 20).size(), 2U << 20);
    EXPECT_GT(f.metrics().backend_errors, 0U);
    EXPECT_TRUE(logs.contains("bytes", cachier::log_level::warning));
    EXPECT_EQ(f(100).size(), 100U);  // the backend still works
    EXPECT_EQ(f(100).size(), 100U);
    EXPECT_GE(f.metrics().hits, 1U);
}

TEST(RedisBackend, NativeExpiryDropsEntries) {
    redis_server server;
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        "redis.ttl",
        [&](int x) {
            ++computed;
            return x;
        },
        on(server.url() + "/0?prefix=" + unique_prefix() + "&entry_ttl=300ms"));
    f(1);
    f(1);
    EXPECT_EQ(computed, 1);
    std::this_thread::sleep_for(500ms);
    f(1);
    EXPECT_EQ(computed, 2) << "the entry outlived its TTL";
}

TEST(RedisBackend, UnixSocketUrl) {
    cachier::test::scratch_dir scratch;
    const auto socket = scratch.path() / "redis.sock";
    redis_server server("--unixsocket " + socket.string() + " --unixsocketperm 700");
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        "redis.unix",
        [&](int x) {
            ++computed;
            return x;
        },
        on("redis+unix://" + socket.string() + "?db=1&prefix=" + unique_prefix()));
    EXPECT_EQ(f(3), 3);
    EXPECT_EQ(f(3), 3);
    EXPECT_EQ(computed, 1);
    EXPECT_EQ(f.metrics().backend_errors, 0U);
}

TEST(RedisBackend, AclUserUrl) {
    redis_server server("--user alice on '>alice-hunter2' '~*' '&*' '+@all'");
    const std::string address = server.url().substr(std::string("redis://").size());
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        "redis.acl",
        [&](int x) {
            ++computed;
            return x;
        },
        on("redis://alice:alice-hunter2@" + address + "/0?prefix=" + unique_prefix()));
    EXPECT_EQ(f(4), 4);
    EXPECT_EQ(f(4), 4);
    EXPECT_EQ(computed, 1);
    EXPECT_EQ(f.metrics().backend_errors, 0U);
}

namespace {

/// Commands the server received from clients (not from scripts), as MONITOR reports them, between
/// two marker commands sent by the test.
class command_counter {
public:
    explicit command_counter(const std::string& url) {
        const auto colon = url.rfind(':');
        const std::string host = url.substr(8, colon - 8);
        const int port = std::stoi(url.substr(colon + 1));
        monitor_ = redisConnect(host.c_str(), port);
        marker_ = redisConnect(host.c_str(), port);
        freeReplyObject(redisCommand(monitor_, "MONITOR"));
    }
    ~command_counter() {
        redisFree(monitor_);
        redisFree(marker_);
    }
    command_counter(const command_counter&) = delete;
    command_counter& operator=(const command_counter&) = delete;

    /// The client commands the server ran since the previous call (or since MONITOR started).
    std::vector<std::string> since_last() {
        const std::string marker = "cachier-test-marker-" + std::to_string(++markers_);
        freeReplyObject(redisCommand(marker_, "ECHO %s", marker.c_str()));
        std::vector<std::string> commands;
        for (;;) {
            void* raw = nullptr;
            if (redisGetReply(monitor_, &raw) != REDIS_OK) return commands;
            const std::string line(static_cast<redisReply*>(raw)->str, static_cast<redisReply*>(raw)->len);
            freeReplyObject(raw);
            if (line.find(marker) != std::string::npos) return commands;
            if (line.find(" lua]") == std::string::npos && line.find("cachier-test-marker") == std::string::npos)
                commands.push_back(line);
        }
    }

private:
    redisContext* monitor_ = nullptr;
    redisContext* marker_ = nullptr;
    int markers_ = 0;
};

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "\n  " + l;
    return out;
}

}  // namespace

// A miss with its store is two commands from the client (SET NX GET, then the store script), and
// a hit is one; counted on the server with MONITOR, which shows script-internal calls apart.
TEST(RedisBackend, MissWithItsStoreIsTwoRoundTrips) {
    redis_server server;
    auto f = cachier::cachier("redis.round_trips", [](int x) { return x * 3; },
                              on(server.url() + "/0?prefix=" + unique_prefix()));
    ASSERT_EQ(f(0), 0);  // connects and learns the server's clock
    ASSERT_EQ(f(0), 0);
    command_counter counter(server.url());
    counter.since_last();
    EXPECT_EQ(f(1), 3);
    const auto miss = counter.since_last();
    EXPECT_EQ(miss.size(), 2U) << "a miss with its store:" << joined(miss);
    EXPECT_EQ(f(1), 3);
    const auto hit = counter.since_last();
    EXPECT_EQ(hit.size(), 1U) << "a hit:" << joined(hit);
    EXPECT_EQ(f.metrics().backend_errors, 0U);
}

// hiredis writes with write(2): a write to a socket that can no longer send raises SIGPIPE, whose
// default action ends the process (the change listener writes to the connection its destructor
// shuts down; a pooled connection to a server that went away). Such a write must be an error.
TEST(RedisBackend, WriteToAClosedConnectionIsAnErrorNotASigpipe) {
    ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL) << "the test needs SIGPIPE's default action";
    redis_server server;
    cachier::detail::redis::connection c(cachier::detail::redis::options_from_url(server.url()));
    EXPECT_EQ(c.command({"PING"})->type, REDIS_REPLY_STATUS);
    c.interrupt();  // shuts the socket down, as the listener's destructor does
    EXPECT_THROW(c.send({"UNSUBSCRIBE", "channel"}), cachier::backend_error);
    EXPECT_THROW(c.command({"PING"}), cachier::backend_error);
}

TEST(RedisBackend, StoppedServerHoldsACallAtMostItsCommandTimeout) {
    redis_server server;
    // 300 ms to answer, 300 ms to connect: a call waits for one of each at most.
    auto o = on(server.url() + "/0?prefix=" + unique_prefix() + "&connect_timeout=300ms&command_timeout=300ms");
    auto f = cachier::cachier("redis.stopped", [](std::int64_t x) { return x * 3; }, o);
    cachier::test::expect_stopped_server_costs_at_most(f, server, 300ms + 200ms, 600ms + 200ms);
    EXPECT_TRUE(cachier::test::eventually([&] { return f(7) == 21 && f.metrics().hits > 0; }, 5s));
}

// The change listener's thread and connection come with the first watch: a process that only
// reads or lists (the command-line tool) holds no second connection.
TEST(RedisBackend, OnlyAWatchOpensTheListeningConnection) {
    redis_server server;
    const std::string url = server.url();
    const auto colon = url.rfind(':');
    redisContext* admin = redisConnect(url.substr(8, colon - 8).c_str(), std::stoi(url.substr(colon + 1)));
    ASSERT_TRUE(admin != nullptr && admin->err == 0);
    const auto clients = [&] {
        auto* reply = static_cast<redisReply*>(redisCommand(admin, "CLIENT LIST"));
        const std::string list(reply->str, reply->len);
        freeReplyObject(reply);
        return std::count(list.begin(), list.end(), '\n') - 1;  // not this one
    };
    auto store = cachier::redis_backend(url + "/0?prefix=" + unique_prefix());
    store->list_functions([](const cachier::function_info&) { return true; });
    (void)store->read({"redis.listener", "k"}, std::chrono::hours(1));
    EXPECT_EQ(clients(), 1) << "reading and listing opened more than the pooled connection";
    store->watch("redis.listener");
    EXPECT_EQ(clients(), 2) << "the first watch opened no listening connection";
    store->unwatch("redis.listener");
    store.reset();
    redisFree(admin);
}
