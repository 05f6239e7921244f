// The typed layer: argument conversion, member functions, custom keys, rich types.

#include <atomic>
#include <map>
#include <memory>
#include <variant>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

namespace {

cachier::options memory_options() {
    cachier::options o;
    o.backend = cachier::memory_backend();
    return o;
}

double half(double x) { return x / 2; }

struct pricing {
    std::string currency;
    int* calls = nullptr;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(currency);  // only the currency identifies a pricing object
    }
    double price(const std::string& sku) const {
        ++*calls;
        return static_cast<double>(sku.size()) + (currency == "EUR" ? 0.5 : 0.0);
    }
};

struct connection {  // not serializable: cannot take part in a key
    int* calls = nullptr;
    int lookup(int id) {
        ++*calls;
        return id * 3;
    }
};

struct refuses_encoding {
    int v = 0;
    template <class Archive>
    void save(Archive& ar) const {
        if (v < 0) throw std::runtime_error("negative values are not storable");
        ar(v);
    }
    template <class Archive>
    void load(Archive& ar) {
        ar(v);
    }
};

}  // namespace

TEST(Typed, ArgumentsAreConvertedToParameterTypesBeforeKeying) {
    auto f = cachier::cachier("typed.half", half, memory_options());
    EXPECT_EQ(f(3), 1.5);
    f.precache_value(100.0, 4.0);
    EXPECT_EQ(f(4), 100.0) << "f(4) and f(4.0) must share an entry";
    EXPECT_EQ(f(4.0F), 100.0);
}

TEST(Typed, MemberFunctionObjectTakesPartInTheKey) {
    int calls = 0;
    pricing usd{"USD", &calls};
    pricing eur{"EUR", &calls};
    pricing usd_again{"USD", &calls};
    auto price = cachier::cachier("typed.pricing.price", &pricing::price, memory_options());
    EXPECT_EQ(price(usd, "abc"), 3.0);
    EXPECT_EQ(price(eur, "abc"), 3.5);
    EXPECT_EQ(price(usd_again, "abc"), 3.0);
    EXPECT_EQ(calls, 2);
}

TEST(Typed, MemberFunctionWithObjectExplicitlyLeftOut) {
    int calls = 0;
    connection a{&calls};
    connection b{&calls};
    auto lookup = cachier::cachier("typed.connection.lookup", cachier::exclude_object(&connection::lookup),
                                   memory_options());
    EXPECT_EQ(lookup(a, 2), 6);
    EXPECT_EQ(lookup(b, 2), 6);
    EXPECT_EQ(calls, 1);
}

TEST(Typed, CustomKeyFunctionChoosesWhatIdentifiesACall) {
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
                 "typed.custom_key",
                 [&](const std::string& user, int request_id) {
                     ++calls;
                     return user + "#" + std::to_string(request_id);
                 },
                 memory_options())
                 .with_key([](const std::string& user, int) { return user; });
    EXPECT_EQ(f("ann", 1), "ann#1");
    EXPECT_EQ(f("ann", 2), "ann#1") << "request_id is not part of the key";
    EXPECT_EQ(f("bob", 2), "bob#2");
    EXPECT_EQ(calls, 2);
}

TEST(Typed, RichArgumentAndResultTypes) {
    using arg = std::map<std::string, std::vector<std::variant<int, std::string>>>;
    using result = std::tuple<std::optional<std::set<int>>, std::array<double, 2>, std::chrono::seconds>;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "typed.rich",
        [&](const arg& a, std::pair<int, bool> p) -> result {
            ++calls;
            return {std::set<int>{static_cast<int>(a.size()), p.first}, {1.0, 2.0}, std::chrono::seconds(p.second)};
        },
        memory_options());
    const arg a{{"k", {1, std::string("two")}}};
    const result first = f(a, {7, true});
    EXPECT_EQ(f(a, {7, true}), first);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(std::get<2>(first), std::chrono::seconds(1));
}

TEST(Typed, StdFunctionAndCopiesShareOneCache) {
    std::atomic<int> calls{0};
    std::function<int(int)> fn = [&](int x) {
        ++calls;
        return x;
    };
    auto f = cachier::cachier("typed.std_function", fn, memory_options());
    auto copy = f;
    f(1);
    copy(1);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(copy.name(), "typed.std_function");
}

TEST(Typed, AValueThatCannotBeEncodedIsReturnedAndReported) {
    cachier::test::log_capture logs;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "typed.refuses",
        [&](int x) {
            ++calls;
            return refuses_encoding{x};
        },
        memory_options());
    EXPECT_EQ(f(-1).v, -1);
    EXPECT_EQ(f(-1).v, -1);
    EXPECT_EQ(calls, 2);
    EXPECT_TRUE(logs.contains("cannot be encoded", cachier::log_level::error));
    EXPECT_THROW(f.precache_value(refuses_encoding{-5}, 1), cachier::serialization_error);
}

TEST(Typed, EmptyNameIsAConfigError) {
    EXPECT_THROW((void)cachier::cachier("", [](int x) { return x; }, memory_options()), cachier::config_error);
}

// A large result handed out by reference: hits of shared() return the value the in-process tier
// keeps, not a copy, and it stays valid after the entry goes.
TEST(Typed, SharedHitsHandOutTheKeptValueItself) {
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "typed.shared_large",
        [&](int n) {
            ++calls;
            return std::vector<double>(static_cast<std::size_t>(n), 0.5);
        },
        memory_options());
    const std::shared_ptr<const std::vector<double>> first = f.shared(100'000);
    const std::shared_ptr<const std::vector<double>> second = f.shared(100'000);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first.get(), second.get()) << "the second hit copied the value";
    EXPECT_EQ(first->size(), 100'000U);
    EXPECT_EQ(f(100'000), *first) << "plain calls still get a copy of the same value";
    EXPECT_EQ(calls.load(), 1);
    EXPECT_TRUE(f.invalidate(100'000));
    EXPECT_EQ(first->size(), 100'000U) << "a handed-out value outlives its entry";
    EXPECT_NE(f.shared(100'000).get(), first.get()) << "recomputed after the invalidation";
    EXPECT_EQ(calls.load(), 2);
}

// Where no tier keeps decoded values (a bounded function, a file backend), shared() decodes.
TEST(Typed, SharedCallsWorkWithoutAKeptValue) {
    cachier::test::scratch_dir dir;
    cachier::options on_file;
    on_file.backend = cachier::file_backend(dir.path());
    cachier::options bounded = memory_options();
    bounded.max_entries = 10;
    for (const cachier::options& o : {on_file, bounded}) {
        int calls = 0;
        auto f = cachier::cachier("typed.shared_decoded", [&](int x) {
            ++calls;
            return std::string(static_cast<std::size_t>(x), 'v');
        }, o);
        EXPECT_EQ(*f.shared(3), "vvv");
        EXPECT_EQ(*f.call_shared({}, 3), "vvv");
        EXPECT_EQ(*f.shared(4), "vvvv");
        EXPECT_EQ(calls, 2);
    }
}
